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
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if s[i] == '.' {
		i++
		start := i
		scale := 100_000_000
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			// Digits past nanoseconds are truncated, as time.Parse does.
			nsec += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, false
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
func unixDays(year, month, day int) int64 {
	y := year + 400
	if month <= 2 {
		y--
	}
	m := (month + 9) % 12 // March is 0
	days := y*365 + y/4 - y/100 + y/400 + (153*m+2)/5 + day - 1
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
