package numparse

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestParseFloatMatchesStrconv holds the fast path to strconv's exact results,
// including the signs of zeros and the inputs it must hand over.
func TestParseFloatMatchesStrconv(t *testing.T) {
	inputs := []string{"0", "-0", "+0", "0.0", "-0.000", "1", "-1", "12.5", ".5", "5.", "-.25",
		"123456789012345", "1234567890123456", "0.000000000000000000000001", "1e10", "1E-3", "NaN",
		"Inf", "-Inf", "+Inf", "infinity", "", "-", ".", "1.2.3", "1_000", "0x1p3", " 1", "1 ",
		"999999999999999.9", "0.1", "0.3", "3.14159265358979", "1.7976931348623157e308",
		"9007199254740992", "9007199254740993", "-0.9007199254740993", "1234567890123456789",
		"12345678901234567890", "0.00000000000000000000009007199254740991"}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		x := (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(20)-8))
		inputs = append(inputs, strconv.FormatFloat(x, 'f', r.IntN(12), 64), strconv.FormatFloat(x, 'g', -1, 64))
	}
	for _, in := range inputs {
		got, gotErr := ParseFloat([]byte(in))
		want, wantErr := strconv.ParseFloat(in, 64)
		if (gotErr == nil) != (wantErr == nil) || (wantErr == nil && !sameFloat(got, want)) {
			t.Errorf("ParseFloat(%q) = %v, %v; strconv: %v, %v", in, got, gotErr, want, wantErr)
		}
	}
}

// TestDecimalTakes: the fast path takes a decimal whose digits make an
// integer within 2^53, 16 digits or not, and declines one past it.
func TestDecimalTakes(t *testing.T) {
	for in, want := range map[string]bool{
		"0.1234567890123456": true, "9007199254740992": true, "-900719925474099.2": true,
		"9007199254740993": false, "0.12345678901234567": false, "1234567890123456789012": false,
	} {
		if _, ok := Decimal([]byte(in)); ok != want {
			t.Errorf("Decimal(%q) took it: %t, want %t", in, ok, want)
		}
	}
}

func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"1.5", "-0.001", "NaN", "123456789012345.6", "1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := ParseFloat([]byte(s))
		want, wantErr := strconv.ParseFloat(s, 64)
		if (gotErr == nil) != (wantErr == nil) || (wantErr == nil && !sameFloat(got, want)) {
			t.Errorf("ParseFloat(%q) = %v, %v; strconv: %v, %v", s, got, gotErr, want, wantErr)
		}
	})
}
