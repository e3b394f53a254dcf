package event_test

import (
	"fmt"

	"github.com/sentinel-ml/sentinel/internal/event"
)

func ExampleDecoder_Decode() {
	d := event.NewDecoder(event.Options{})
	var ev event.Event // reused for every message
	for _, msg := range []string{
		`{"model": "fraud", "timestamp": "2026-11-21T10:00:00.123Z",
		  "features": {"amount": NaN, "country": "DE"}, "prediction": 0.87}`,
		`{"model": 7, "features": {}}`,
	} {
		if err := d.Decode([]byte(msg), &ev); err != nil {
			fmt.Println("dead letter:", event.ReasonOf(err))
			continue
		}
		fmt.Println(string(ev.Model), ev.Timestamp.Format("15:04:05.000"), ev.Prediction.Num)
		for _, f := range ev.Features {
			fmt.Printf("  %s %v %v %q\n", f.Name, f.Value.Kind, f.Value.Num, f.Value.Str)
		}
	}
	// Output:
	// fraud 10:00:00.123 0.87
	//   amount number NaN ""
	//   country string 0 "DE"
	// dead letter: bad_field_type
}
