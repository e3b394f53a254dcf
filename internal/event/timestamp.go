package event

import (
	"math"
	"time"
)

// parseRFC3339 parses YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|±HH:MM) into a UTC time.
// It is hand-written because time.Parse allocates a *Location for every numeric
// offset, which would put an allocation on the per-event path. A missing offset
// is rejected: a naive local time is ambiguous, and guessing would misplace
// events in their windows.
func parseRFC3339(s []byte) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	// The fixed part is read without loops and checked with one branch: a
	// digit's value is a byte, so a byte that is not a digit gives one above 9,
	// and so does the max.
	c := (*[19]byte)(s)
	digit := func(i int) byte { return c[i] - '0' }
	if max(digit(0), digit(1), digit(2), digit(3), digit(5), digit(6), digit(8), digit(9),
		digit(11), digit(12), digit(14), digit(15), digit(17), digit(18)) > 9 ||
		c[4] != '-' || c[7] != '-' || (c[10] != 'T' && c[10] != 't' && c[10] != ' ') ||
		c[13] != ':' || c[16] != ':' {
		return time.Time{}, false
	}
	two := func(i int) int { return int(digit(i))*10 + int(digit(i+1)) }
	year, month, day := two(0)*100+two(2), two(5), two(8)
	hour, minute, sec := two(11), two(14), two(17)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			// Digits past nanoseconds are truncated, as time.Parse does.
			if i-start < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
			i++
		}
		if i == start {
			return time.Time{}, false
		}
		if n := i - start; n < 9 {
			nsec *= [9]int{1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1}[n]
		}
	}
	if i >= len(s) {
		return time.Time{}, false
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != len("+07:00") || s[i+3] != ':' {
			return time.Time{}, false
		}
		oh, okh := digits(s[i+1 : i+3])
		om, okm := digits(s[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(s) {
		return time.Time{}, false
	}
	// Every field is already in range, so time.Date's normalization has nothing
	// to do; counting the seconds directly costs a fraction of it.
	unix := unixDays(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// unixDays returns the day number of a valid date in the proleptic Gregorian
// calendar, 0 being 1970-01-01. Years are counted from March, so that the leap
// day ends them, and shifted by one 400-year cycle (146097 days), so that
// January and February of year 0 do not make the divisions negative.
// Unsigned, the divisions by constants need no sign corrections.
func unixDays(year, month, day int) int64 {
	y, m := uint(year+400), uint(month-3) // March is 0
	if month <= 2 {
		y--
		m += 12
	}
	days := y*365 + y/4 - y/100 + y/400 + (153*m+2)/5 + uint(day) - 1
	return int64(days) - 146097 - 719468
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Epoch-millisecond timestamps are limited to years 1 through 9999, the range
// RFC 3339 can express, so both forms describe the same set of instants.
const (
	minEpochMs = -62135596800000 // 0001-01-01T00:00:00Z
	maxEpochMs = 253402300799999 // 9999-12-31T23:59:59.999Z
)

// epochMillis converts Unix epoch milliseconds (possibly fractional) to a UTC time.
func epochMillis(ms float64) (time.Time, bool) {
	if !(ms >= minEpochMs && ms <= maxEpochMs) { // also rejects NaN
		return time.Time{}, false
	}
	whole := math.Floor(ms)
	frac := time.Duration(math.Round((ms - whole) * 1e6))
	return time.UnixMilli(int64(whole)).Add(frac).UTC(), true
}
