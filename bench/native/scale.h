/*
 * The scale curves' timing, for a C round of any curve (kwq-native.c `scale`, loop.c
 * `loop scale`): bench/scale-points.ts's warmUp and measure, so that the C's ns/item
 * and kwq's are taken alike. Warm-up: at least 3 rounds and MS, and at least
 * SCALE_WARM_MS (scale-points.ts's WARM_MS). Then three blocks,
 * each of at least MIN_ITEMS / 3 items and MS / 3 ms, the clock read after rounds
 * 1, 2, ..., then every eighth of the rounds so far; the median block and the spread.
 * Inline with a constant round function, the compiler calls the round directly.
 */
#ifndef KWQ_NATIVE_SCALE_H
#define KWQ_NATIVE_SCALE_H

#include <stdint.h>
#include <stdio.h>

#include "kernel.h"

/* the least warm-up, ms: scale-points.ts's WARM_MS */
#define SCALE_WARM_MS 300.0

/* three blocks' ns/item: the median, the fastest and the slowest */
struct scale_blocks {
	double mid, lo, hi;
};

static inline __attribute__((always_inline)) struct scale_blocks scale_measure(void (*round)(void *), void *arg, uint64_t per_round,
									     double min_items, double ms)
{
	double blocks[3];
	uint64_t t_warm = now_ns();
	double warm_ms = ms > SCALE_WARM_MS ? ms : SCALE_WARM_MS;
	for (int i = 0; i < 3 || now_ns() - t_warm < (uint64_t)(warm_ms * 1e6); i++)
		round(arg);
	for (int b = 0; b < 3; b++) {
		uint64_t t0 = now_ns(), items = 0;
		for (uint64_t r = 1, check = 1;; r++) {
			round(arg);
			items += per_round;
			if (r < check)
				continue;
			if ((double)items >= min_items / 3 && (double)(now_ns() - t0) >= ms / 3 * 1e6)
				break;
			check = r + (r >> 3 ? r >> 3 : 1);
		}
		blocks[b] = (double)(now_ns() - t0) / (double)items;
	}
	struct scale_blocks s = { 0, blocks[0], blocks[0] };
	for (int b = 1; b < 3; b++) {
		s.lo = blocks[b] < s.lo ? blocks[b] : s.lo;
		s.hi = blocks[b] > s.hi ? blocks[b] : s.hi;
	}
	s.mid = blocks[0] + blocks[1] + blocks[2] - s.lo - s.hi;
	return s;
}

/* the JSON line bench/scale.ts reads: {nsPerItem, spread, items, exactlyOnce} */
static inline void scale_print(struct scale_blocks s, uint64_t items, int ok)
{
	printf("{\"nsPerItem\":%.4f,\"spread\":[%.4f,%.4f],\"items\":%llu,\"exactlyOnce\":%s}\n", s.mid, s.lo, s.hi,
	       (unsigned long long)items, ok ? "true" : "false");
}

#endif
