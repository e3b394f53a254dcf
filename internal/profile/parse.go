package profile

import (
	"bytes"
	"strconv"
	"unsafe"
)

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat reads a number. Plain decimals of up to 15 significant digits — what
// data exports write — take Clinger's fast path: the digits and the power of ten
// are both exact in float64, so one multiplication or division is correctly
// rounded and the result equals strconv's. Everything else goes to strconv,
// through a zero-copy view: strconv clones its input into any error it returns, so
// the view never outlives the call.
func parseFloat(b []byte) (float64, error) {
	if x, ok := parseSimple(b); ok {
		return x, nil
	}
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
}

func parseSimple(b []byte) (float64, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	sawDigit, sawDot := false, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			sawDigit = true
			if mant == 0 && c == '0' {
				// Leading zeros are not significant.
				if sawDot {
					frac++
				}
				continue
			}
			digits++
			if digits > 15 {
				return 0, false
			}
			mant = mant*10 + uint64(c-'0')
			if sawDot {
				frac++
			}
		case c == '.' && !sawDot:
			sawDot = true
		default:
			return 0, false
		}
	}
	if !sawDigit || frac >= len(pow10) {
		return 0, false
	}
	x := float64(mant) / pow10[frac]
	if neg {
		x = -x
	}
	return x, true
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
