package main

import "testing"

func TestByteSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		str  string
		bad  bool
	}{
		{in: "1048576", want: 1 << 20, str: "1MiB"},
		{in: "64MiB", want: 64 << 20, str: "64MiB"},
		{in: "64M", want: 64 << 20, str: "64MiB"},
		{in: "512KiB", want: 512 << 10, str: "512KiB"},
		{in: "2GiB", want: 2 << 30, str: "2GiB"},
		{in: "1000", want: 1000, str: "1000"},
		{in: "1500KiB", want: 1500 << 10, str: "1500KiB"},
		{in: "0", bad: true},
		{in: "-1", bad: true},
		{in: "1.5MiB", bad: true},
		{in: "64mb", bad: true},
		{in: "", bad: true},
		{in: "99999999999GiB", bad: true},
	} {
		var s byteSize
		err := s.Set(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %d", tc.in, s)
			}
			continue
		}
		if err != nil || int64(s) != tc.want || s.String() != tc.str {
			t.Errorf("%q: %d %q %v, want %d %q", tc.in, s, s.String(), err, tc.want, tc.str)
		}
	}
}
