package profile

import "bytes"

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
