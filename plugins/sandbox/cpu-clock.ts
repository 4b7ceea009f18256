// What an isolate's CPU cost is, read from outside it.
//
// isolated-vm's `cpuTime` is not the isolate thread's CPU clock in the build we run: the linux-x64
// prebuild of 7.0.1 imports `steady_clock::now` and no `clock_gettime` (`nm -D` on
// prebuilds/linux-x64/isolated-vm.abi137.glibc.node), so `cpuTime` is the *wall* time its lock was
// held. Measured here: a call that did 700 ms of CPU was charged 684 ms on an idle machine and
// 1,677 ms beside four busy loops on two cores; a call blocked 800 ms in Atomics.wait, using no
// CPU, was charged 800 ms. So on a loaded laptop a plugin looked dearer the longer it waited for
// a core, and a starved call looked hung.
//
// The isolate's own thread cannot be read from here, but it is not this thread, so it cannot have
// used more CPU than all of this process's other threads together (process minus this thread,
// both kernel clocks). Each is an upper bound of the isolate's CPU, so the smaller one is too: it
// never undercounts a plugin that really burns CPU, and it is not inflated by waiting. It is
// loose when other isolates run at the same time (their CPU counts too), never tighter than true.

/** A point to measure from: the isolate's `cpuTime` and the other threads' CPU then, in ns. */
export type CpuMark = { isolateNs: bigint; othersNs: bigint };

/** CPU used by every thread of this process but the calling one, in ns (kernel clocks). */
export function otherThreadsCpuNs(): bigint {
  const all = process.cpuUsage();
  const own = process.threadCpuUsage();
  const us = all.user + all.system - (own.user + own.system);
  // Two reads, not one snapshot: the difference can dip below zero by a tick.
  return us > 0 ? BigInt(us) * 1000n : 0n;
}

/** A mark now, given the isolate's `cpuTime` as just read. */
export function cpuMark(isolateNs: bigint): CpuMark {
  return { isolateNs, othersNs: otherThreadsCpuNs() };
}

/** The isolate's CPU since `mark`, in ns: the smaller of its `cpuTime` and the other threads' CPU. */
export function cpuSinceNs(mark: CpuMark, isolateNs: bigint, othersNs: bigint): bigint {
  const byIsolate = isolateNs - mark.isolateNs;
  const byOthers = othersNs - mark.othersNs;
  // biome-ignore lint/complexity/useMathMinMax: bigints; Math.min takes numbers only.
  const used = byIsolate < byOthers ? byIsolate : byOthers;
  return used > 0n ? used : 0n;
}
