package profile

import (
	"bytes"
	"strconv"
	"unsafe"
)

// parseFloat reads a number without copying the bytes: strconv clones its input into
// any error it returns, so the unsafe view never outlives the call.
func parseFloat(b []byte) (float64, error) {
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
}

// parseBool reads the spellings of booleans found in CSV exports.
func parseBool(b []byte) (value, ok bool) {
	switch {
	case bytes.EqualFold(b, []byte("true")), bytes.Equal(b, []byte("1")):
		return true, true
	case bytes.EqualFold(b, []byte("false")), bytes.Equal(b, []byte("0")):
		return false, true
	}
	return false, false
}
