/*
 * The kernel's cpu pressure accounting (kernel/sched/psi.c, 6.12: psi_task_change,
 * psi_task_switch, psi_group_change, record_times, test_states) for the scale
 * curves' C rounds (kwq-native.c `scale ... psi`), one CPU, written for this
 * repository from the kernel's algorithm, not copied from it. kwq models the same
 * counting (src/kernel/cgroup/psi.ts): a worker's wake-up, its dispatch and its
 * sleep change its cgroup's counts and those of every ancestor, each change first
 * folding the stall since the group's last change.
 *
 * Layout, as the kernel's (include/linux/psi_types.h), the members a change reads
 * or writes in capitals:
 *
 *   struct psi_group (one per cgroup, kzalloc'd with it)
 *     line 0   PARENT, ENABLED, avgs_lock, PCPU (48), avg_total[..]
 *     line 1   avg_total[..], avg_last_update, avg_next_update
 *     line 2   AVGS_WORK (128: work.data's pending bit), ..
 *     ..       triggers, total[][], avg[][], the rtpoll members
 *     line 10  RTPOLL_STATES (696: read by every change, state_mask & rtpoll_states)
 *
 *   struct psi_group_cpu (alloc_percpu: one CPU's copies of consecutive groups
 *                         are consecutive in that CPU's chunk, 128 bytes apart)
 *     line 0  SEQ, TASKS[4], STATE_MASK, TIMES[8], STATE_START  (the scheduler's)
 *     line 1  times_prev[2][8]                                  (the aggregator's)
 *
 * What is not here: the clock is the round's virtual time (kwq's sim charges
 * virtual time too; the kernel reads cpu_clock per change); the aggregator
 * (psi_avgs_work) that the pending bit schedules every 2 s is not run (per change
 * it costs the bit's read); no io or memory stalls (kwq has none: test_states'
 * io and mem branches read counts that stay 0).
 */
#ifndef KWQ_NATIVE_PSI_H
#define KWQ_NATIVE_PSI_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

enum { NR_IOWAIT, NR_MEMSTALL, NR_RUNNING, NR_MEMSTALL_RUNNING, NR_PSI_TASK_COUNTS };
#define TSK_RUNNING (1u << NR_RUNNING)
#define TSK_ONCPU (1u << NR_PSI_TASK_COUNTS)
enum { PSI_IO_SOME, PSI_IO_FULL, PSI_MEM_SOME, PSI_MEM_FULL, PSI_CPU_SOME, PSI_CPU_FULL, PSI_IRQ_FULL, PSI_NONIDLE, NR_PSI_STATES };
#define PSI_ONCPU (1u << NR_PSI_STATES)
/* PSI_FREQ: 2 s + 1 jiffy (HZ 1000), in ns */
#define PSI_FREQ_NS 2001000000ull

struct psi_group_cpu {
	uint32_t seq __attribute__((aligned(CACHELINE)));
	uint32_t tasks[NR_PSI_TASK_COUNTS];
	uint32_t state_mask;
	uint32_t times[NR_PSI_STATES];
	uint64_t state_start;
	uint32_t times_prev[2][NR_PSI_STATES] __attribute__((aligned(CACHELINE)));
};

struct psi_group {
	struct psi_group *parent;
	uint8_t enabled;
	uint8_t avgs_lock[32]; /* struct mutex */
	struct psi_group_cpu *pcpu;
	uint64_t avg_total[NR_PSI_STATES - 1];
	uint64_t avg_last_update, avg_next_update;
	/* struct delayed_work avgs_work: work.data's pending bit first, then the timer */
	uint64_t avgs_work_pending;
	uint64_t avgs_work_expires;
	uint8_t avgs_work_rest[72];
	uint8_t avg_triggers[16];
	uint32_t avg_nr_triggers[NR_PSI_STATES - 1];
	uint64_t total[2][NR_PSI_STATES - 1];
	unsigned long avg[NR_PSI_STATES - 1][3];
	uint8_t rtpoll_rest[152]; /* rtpoll_task, rtpoll_timer, rtpoll_wait, the atomics, the mutex, the list, the counts */
	uint32_t rtpoll_states;
	uint64_t rtpoll_min_period, rtpoll_total[NR_PSI_STATES - 1], rtpoll_next_update, rtpoll_until;
};

/* a task's PSI part: its flags and its cgroup's group (task_psi_group, cached as kwq's SimThread.psiHome) */
struct psi_task {
	uint32_t psi_flags;
	struct psi_group *group;
};

/* test_states: the cpu and non-idle bits from the counts (kwq's tasks have no io or memory stall) */
static inline uint32_t psi_test_states(const uint32_t *tasks, uint32_t state_mask)
{
	uint32_t oncpu = !!(state_mask & PSI_ONCPU);
	if (tasks[NR_IOWAIT]) {
		state_mask |= 1u << PSI_IO_SOME;
		if (!tasks[NR_RUNNING])
			state_mask |= 1u << PSI_IO_FULL;
	}
	if (tasks[NR_MEMSTALL]) {
		state_mask |= 1u << PSI_MEM_SOME;
		if (tasks[NR_RUNNING] == tasks[NR_MEMSTALL_RUNNING])
			state_mask |= 1u << PSI_MEM_FULL;
	}
	if (tasks[NR_RUNNING] > oncpu)
		state_mask |= 1u << PSI_CPU_SOME;
	if (tasks[NR_RUNNING] && !oncpu)
		state_mask |= 1u << PSI_CPU_FULL;
	if (tasks[NR_IOWAIT] || tasks[NR_MEMSTALL] || tasks[NR_RUNNING])
		state_mask |= 1u << PSI_NONIDLE;
	return state_mask;
}

/* record_times: the time since the last change into each state the group was in */
static inline void psi_record_times(struct psi_group_cpu *groupc, uint64_t now)
{
	uint32_t delta = (uint32_t)(now - groupc->state_start);
	groupc->state_start = now;
	uint32_t m = groupc->state_mask;
	if (m & (1u << PSI_IO_SOME)) {
		groupc->times[PSI_IO_SOME] += delta;
		if (m & (1u << PSI_IO_FULL))
			groupc->times[PSI_IO_FULL] += delta;
	}
	if (m & (1u << PSI_MEM_SOME)) {
		groupc->times[PSI_MEM_SOME] += delta;
		if (m & (1u << PSI_MEM_FULL))
			groupc->times[PSI_MEM_FULL] += delta;
	}
	if (m & (1u << PSI_CPU_SOME)) {
		groupc->times[PSI_CPU_SOME] += delta;
		if (m & (1u << PSI_CPU_FULL))
			groupc->times[PSI_CPU_FULL] += delta;
	}
	if (m & (1u << PSI_NONIDLE))
		groupc->times[PSI_NONIDLE] += delta;
}

/* psi_group_change on the one CPU: counts, then the stall since the last change, then the new state */
static inline void psi_group_change(struct psi_group *group, uint32_t clear, uint32_t set, uint64_t now)
{
	struct psi_group_cpu *groupc = group->pcpu;
	uint32_t state_mask;
	groupc->seq++; /* write_seqcount_begin */
	if (clear & TSK_ONCPU) {
		state_mask = 0;
		clear &= ~TSK_ONCPU;
	} else if (set & TSK_ONCPU) {
		state_mask = PSI_ONCPU;
		set &= ~TSK_ONCPU;
	} else
		state_mask = groupc->state_mask & PSI_ONCPU;
	for (uint32_t t = 0; clear; clear &= ~(1u << t), t++)
		if ((clear & (1u << t)) && groupc->tasks[t])
			groupc->tasks[t]--;
	for (uint32_t t = 0; set; set &= ~(1u << t), t++)
		if (set & (1u << t))
			groupc->tasks[t]++;
	if (!group->enabled) {
		if (groupc->state_mask & (1u << PSI_NONIDLE))
			psi_record_times(groupc, now);
		groupc->state_mask = state_mask;
		groupc->seq++;
		return;
	}
	state_mask = psi_test_states(groupc->tasks, state_mask);
	psi_record_times(groupc, now);
	groupc->state_mask = state_mask;
	groupc->seq++; /* write_seqcount_end */
	if (state_mask & group->rtpoll_states)
		die("psi: no rtpoll triggers here");
	if (!group->avgs_work_pending) { /* schedule_delayed_work(&group->avgs_work, PSI_FREQ) */
		group->avgs_work_pending = 1;
		group->avgs_work_expires = now + PSI_FREQ_NS;
	}
}

/* psi_task_change: the task's group and every ancestor */
static inline void psi_task_change(struct psi_task *task, uint32_t clear, uint32_t set, uint64_t now)
{
	task->psi_flags = (task->psi_flags & ~clear) | set;
	for (struct psi_group *g = task->group; g; g = g->parent)
		psi_group_change(g, clear, set, now);
}

/*
 * psi_task_switch: TSK_ONCPU onto next's groups up to the first that has it (an
 * ancestor shared with prev), off prev's up to there; a prev going to sleep also
 * loses TSK_RUNNING, all the way up. NULL: the idle task (pid 0, not counted).
 */
static inline void psi_task_switch(struct psi_task *prev, struct psi_task *next, int sleep, uint64_t now)
{
	struct psi_group *g, *common = NULL;
	if (next) {
		next->psi_flags |= TSK_ONCPU;
		for (g = next->group; g; g = g->parent) {
			if (g->pcpu->state_mask & PSI_ONCPU) {
				common = g;
				break;
			}
			psi_group_change(g, 0, TSK_ONCPU, now);
		}
	}
	if (prev) {
		uint32_t clear = TSK_ONCPU | (sleep ? TSK_RUNNING : 0);
		prev->psi_flags &= ~clear;
		for (g = prev->group; g && g != common; g = g->parent)
			psi_group_change(g, clear, 0, now);
		if ((prev->psi_flags ^ (next ? next->psi_flags : 0)) & ~TSK_ONCPU) {
			clear &= ~TSK_ONCPU;
			for (; g; g = g->parent)
				psi_group_change(g, clear, 0, now);
		}
	}
}

/* a cgroup's psi_group (psi_cgroup_alloc): its per-CPU part from `pcpu`, the next of a chunk */
static inline struct psi_group *psi_group_new(struct psi_group *parent, struct psi_group_cpu *pcpu)
{
	struct psi_group *g = aligned_alloc(CACHELINE, sizeof(*g));
	if (!g)
		die("out of memory");
	memset(g, 0, sizeof(*g));
	memset(pcpu, 0, sizeof(*pcpu));
	g->parent = parent;
	g->enabled = 1;
	g->pcpu = pcpu;
	return g;
}

#endif
