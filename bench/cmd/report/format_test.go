package main

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	s := summary{}
	s.put("B/op", "r", "small", cell{Center: 923})
	s.put("B/op", "r", "kib", cell{Center: 945_000})
	s.put("B/op", "r", "mib", cell{Center: 1.3 * (1 << 20)})
	s.put("allocs/op", "r", "whole", cell{Center: 57})
	s.put("allocs/op", "r", "half", cell{Center: 67.5})
	s.put("allocs/op", "r", "many", cell{Center: 3396.5})
	s.put("heap-KiB", "r", "ours", cell{Center: -3.672, CI: "∞"})
	for _, c := range []struct{ got, want string }{
		{callersText("100B", 1), "100B × 1 caller"},
		{callersText("4MiB", 64), "4MiB × 64 callers"},
		{sizeText("100B"), "100 B"},
		{sizeText("256KiB"), "256 KiB"},
		{sizeText("4MiB"), "4 MiB"},
		{seconds(0), "–"},
		{seconds(14.58e-9), "14.6 ns"},
		{seconds(941.4e-6), "941.4 µs"},
		{seconds(5.71e-3), "5.71 ms"},
		{seconds(2), "2.00 s"},
		{ms(0), "–"},
		{ms(82e-6), "0.082"},
		{ms(5.18e-3), "5.18"},
		{ms(1.5), "1500"},
		{ci(cell{CI: "±2%"}), " ± 2%"},
		{ci(cell{CI: "∞"}), ""},
		{ci(cell{}), ""},
		{timeCell(cell{}), "–"},
		{timeCell(cell{Center: 14.58e-9, CI: "±2%"}), "14.6 ns ± 2%"},
		{rateCell(cell{Center: 1.16e6, CI: "±6%"}), "1.16 MB/s ± 6%"},
		{rateCell(cell{Center: 1263e6, CI: "±9%"}), "1263 MB/s ± 9%"},
		{rateCell(cell{}), "–"},
		{unitCell(s, "%.0f KiB", "heap-KiB", "r", "ours"), "-4 KiB"},
		{unitCell(s, "%.0f KiB", "heap-KiB", "r", "informer"), "–"},
		{bytesCell(s, "r", "small"), "923 B"},
		{bytesCell(s, "r", "kib"), "923 KiB"},
		{bytesCell(s, "r", "mib"), "1.3 MiB"},
		{bytesCell(s, "r", "none"), "–"},
		{num(s, "allocs/op", "r", "whole"), "57"},
		{num(s, "allocs/op", "r", "half"), "67.5"},
		{num(s, "allocs/op", "r", "many"), "3396"},
		{num(s, "allocs/op", "r", "none"), "–"},
		{ratioText(5.28), "5.28×"},
		{ratioText(13.4), "13×"},
		{ratioText(0), "–"},
		{ratioText(math.NaN()), "–"},
		{ratioText(math.Inf(1)), "–"},
		{ratio(1, 0), "–"},
		{ratio(0, 1), "–"},
		{ratio(3, 2), "1.50×"},
		{sigRatio(cell{Center: 5.96, VsBase: "~"}, 5.92), "1.01× ~"},
		{sigRatio(cell{Center: 0.84, VsBase: "-27%"}, 1.16), "0.72×"},
		{sigRatio(cell{VsBase: "~"}, 1), "–"},
		{vsInformer(cell{Center: 52.45}, cell{Center: 52.6, VsBase: "~"}), "1.00× ~"},
		{vsInformer(cell{Center: 96}, cell{Center: 967, VsBase: "+911%"}), "0.10×"},
		{perPeer(2.01), "2.01"},
		{perPeer(0.006), "0.006"},
		{perPeer(1.003), "1"},
		{perPeer(3), "3"},
		{perPeerBytes(564.5), "564 B"},
		{perPeerBytes(-300), "-300 B"},
		{perPeerBytes(8192), "8.0 KiB"},
		{perPeerBytes(10442), "10.2 KiB"},
		{perPeerCell(s, "allocs/op", "r", "half"), "67.5"},
		{perPeerCell(s, "allocs/op", "r", "none"), "–"},
		{perPeerBytesCell(s, "B/op", "r", "kib"), "922.9 KiB"},
		{perPeerBytesCell(s, "B/op", "r", "none"), "–"},
		{threeFigures(6.153), "6.15"},
		{threeFigures(0.3351), "0.335"},
		{formatCell(s, threeFigures, "allocs/op", "r", "half"), "67.5"},
		{formatCell(s, threeFigures, "allocs/op", "r", "none"), "–"},
		{signedCount(1.5), "+1.5"},
		{signedCount(-0.75), "−0.75"},
		{signedCount(0), "±0"},
		{micros(0.85e-6), "0.85"},
		{micros(9.5e-6), "9.50"},
		{micros(41.23e-6), "41.2"},
		{micros(1.52e-3), "1520"},
		{signedMicros(9.5e-6), "+9.50"},
		{signedMicros(-12.34e-6), "−12.3"},
		{signedMicros(0), "±0"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
