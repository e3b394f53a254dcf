// Package numparse reads decimal numbers from bytes, fast: data exports and events
// mostly carry short plain decimals, which take Clinger's exact fast path instead
// of strconv's general algorithm.
package numparse

import (
	"strconv"
	"unsafe"
)

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// ParseFloat reads a number as strconv.ParseFloat does, with the same result and
// the same errors. Everything Decimal declines goes to strconv through a zero-copy
// view: strconv clones its input into any error it returns, so the view never
// outlives the call.
func ParseFloat(b []byte) (float64, error) {
	if x, ok := Decimal(b); ok {
		return x, nil
	}
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
}

// Decimal reads an optionally signed plain decimal (digits with at most one dot,
// no exponent) whose significant digits make an integer of at most 2^53 (all of
// 15 digits, most of 16) and of up to 22 fractional digits, and reports false for
// anything else. Both the digits as an integer and the power of ten are exact in
// float64, so the one division rounds correctly and the result equals strconv's.
func Decimal(b []byte) (float64, bool) {
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
			if sawDot {
				frac++
			}
			if mant == 0 && c == '0' {
				// Leading zeros are not significant.
				continue
			}
			// Nineteen digits fit the integer; Scale declines past 2^53.
			digits++
			if digits > 19 {
				return 0, false
			}
			mant = mant*10 + uint64(c-'0')
		case c == '.' && !sawDot:
			sawDot = true
		default:
			return 0, false
		}
	}
	if !sawDigit {
		return 0, false
	}
	x, ok := Scale(mant, frac)
	if neg {
		x = -x
	}
	return x, ok
}

// Scale returns mant/10^frac, and false when mant or 10^frac is not exact in
// float64: only exact operands make the one division round as strconv does. It
// lets a scanner that has already gathered the digits skip a second pass.
func Scale(mant uint64, frac int) (float64, bool) {
	if mant > 1<<53 || uint(frac) >= uint(len(pow10)) {
		return 0, false
	}
	return float64(mant) / pow10[frac], true
}
