package event

import (
	"bytes"
	"encoding/json"
	"testing"
)

// realisticEvent is shaped like production traffic: an envelope with 12 numeric and
// 8 categorical features, a fractional timestamp and one escaped string.
func realisticEvent() []byte {
	return []byte(`{"model": "fraud", "model_version": "2026-11-01", "request_id": "r-8f3a2c1e-5b7d-4e9a-9c0f-1a2b3c4d5e6f",
 "timestamp": "2026-11-21T10:00:00.123Z",
 "features": {"amount": 12.5, "balance": 1834.77, "age_days": 412, "tx_count_24h": 3,
  "tx_count_7d": 17, "avg_amount_30d": 45.12, "distance_km": 3.41, "hour": 10,
  "risk_score": 0.1342, "velocity": -0.75, "merchant_score": 0.998, "card_age_months": 27,
  "country": "DE", "currency": "EUR", "channel": "web", "device": "ios",
  "merchant_category": "grocery", "card_type": "debit", "city": "M\u00fcnchen", "segment": "retail"},
 "prediction": 0.87, "latency_ms": 12.3}`)
}

func BenchmarkDecode(b *testing.B) {
	data := realisticEvent()
	d := NewDecoder(Options{})
	var ev Event
	if err := d.Decode(data, &ev); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := d.Decode(data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFlat covers the training-file shape, where every top-level
// member is a feature and the duplicate check runs over all of them.
func BenchmarkDecodeFlat(b *testing.B) {
	var m map[string]any
	if err := json.Unmarshal(realisticEvent(), &m); err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(m["features"])
	if err != nil {
		b.Fatal(err)
	}
	d := NewDecoder(Options{})
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := d.Decode(data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingJSON is the baseline the custom decoder exists to beat.
func BenchmarkEncodingJSON(b *testing.B) {
	data := realisticEvent()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReordered is the worst case for the keys kept from the
// previous object: every other event has its features in another order, so
// that no key matches and every one is recorded again.
func BenchmarkDecodeReordered(b *testing.B) {
	data := realisticEvent()
	moved := bytes.Replace(data, []byte(`"amount": 12.5, `), nil, 1)
	moved = bytes.Replace(moved, []byte(`"segment": "retail"`), []byte(`"segment": "retail", "amount": 12.5`), 1)
	d := NewDecoder(Options{})
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for n := 0; b.Loop(); n++ {
		in := data
		if n%2 == 1 {
			in = moved
		}
		if err := d.Decode(in, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
