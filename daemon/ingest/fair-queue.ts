import { realTimers, type Timers } from '../timers.ts';
import { createCpuBudget } from './cpu-budget.ts';

// Deficit round robin (Shreedhar & Varghese) over per-source queues, under one aggregate budget.
//
// Work that arrives while nothing waits and the budget allows runs at once, so the common case
// (a fader) costs no extra turn of the event loop. Otherwise it waits in its source's queue, and
// each round gives every waiting source `quantum` units: a source's head packet runs when its
// deficit covers the cost, so however large one source's packets are, another source waits for
// at most `quantum + largest cost - 1` of its units per round. After `unitsPerTurn` units or
// `turnMs` of work since it last yielded, whichever comes first, the queue yields the event loop,
// and once work has taken more than `cpuShare` of the time (cpu-budget.ts) it waits until it is
// back under.
//
// Work run at once schedules nothing: it is counted towards the next yield, which therefore
// comes after at most those limits of work, however many turns of the loop that work spread
// over (fewer units a turn than allowed, never more). Scheduling a turn after every direct run
// cost a setImmediate per datagram at a fader's rates, where each datagram has its own turn
// (issue 18); now it costs one per `turnMs` of work.
//
// Both are capped in time because a unit's cost differs tenfold between builds and machines
// (measured here: 6.5 µs a parameter write in the daemon) and the socket is read only between
// turns, at most 32 datagrams a turn (libuv): with 27 ms turns and no share, the kernel dropped
// 85 % of every source's datagrams under a fan-out flood, the performer's included.
//
// The bound (docs/osc.md, "Limits"): a packet costing at most `quantum`, once at the head of its
// source's queue, waits behind at most Σ over the other waiting sources of (quantum + their
// largest packet cost − 1) units. `maxWaitUnits` in the stats is the largest such wait seen,
// counted in units of other sources' work, never in wall time.

export type FairQueueInit<T> = {
  quantum: number;
  unitsPerTurn: number;
  /** Wall time of work per turn of the event loop (at least one item runs per turn). */
  turnMs: number;
  maxQueuedUnits: number;
  /** The aggregate budget: the fraction of wall time work may take, across all sources. */
  cpuShare: number;
  /** Milliseconds of work that may run back to back after an idle spell. */
  burstMs: number;
  /** Most sources with queued work; a new one beyond it drops the longest queue whole. */
  maxSources?: number;
  /** Runs one item; `waited`: units of other sources' work run since it reached its queue's head. */
  run: (item: T, key: string, waited: number) => void;
  /** An item dropped to make room (the longest queue loses its newest). */
  onDrop: (item: T, key: string, cost: number) => void;
  now?: () => number;
  /** Next turn of the event loop (default setImmediate). */
  defer?: (fn: () => void) => void;
  timers?: Timers;
};

export type FairQueueStats = {
  /** Units waiting, and how many sources they belong to. */
  queuedUnits: number;
  queuedSources: number;
  /** Units run in all. */
  ranUnits: number;
  /** The largest `waited` of an item costing at most a quantum. */
  maxWaitUnits: number;
  dropped: number;
};

export type Submitted = 'ran' | 'queued' | 'dropped';

export type FairQueue<T> = {
  /** `t`: now on the queue's clock, when the caller has just read it; the item's work is charged from there. */
  submit(key: string, cost: number, item: T, t?: number): Submitted;
  stats(): FairQueueStats;
  close(): void;
};

type Item<T> = { item: T; cost: number };
type Flow<T> = {
  items: Item<T>[];
  head: number;
  units: number;
  deficit: number;
  visiting: boolean;
  /** `ranUnits` when the current head item became the head: its wait is counted from there. */
  headAt: number;
};

export function createFairQueue<T>(init: FairQueueInit<T>): FairQueue<T> {
  const defer = init.defer ?? ((fn) => setImmediate(fn));
  const timers = init.timers ?? realTimers;
  const maxSources = init.maxSources ?? 1024;
  const now = init.now ?? performance.now.bind(performance);
  const budget = createCpuBudget({ share: init.cpuShare, burstMs: init.burstMs, now });
  // Insertion order is the round: the first key is the source being served, a served source
  // moves to the end (delete + set), a source whose queue empties leaves.
  const flows = new Map<string, Flow<T>>();
  let queuedUnits = 0;
  let ranUnits = 0;
  let maxWaitUnits = 0;
  let dropped = 0;
  let spent = 0; // units run since the queue last yielded
  let worked = 0; // ms of work since then
  let turnPending = false;
  let refill: unknown;
  let closed = false;

  /** `t`: now, as the caller just read it for the budget. */
  const run = (key: string, item: T, cost: number, waited: number, t: number) => {
    // The stated bound is for packets that fit in one quantum (a fader move); a larger one
    // waits a round per quantum it needs, by design.
    if (cost <= init.quantum && waited > maxWaitUnits) maxWaitUnits = waited;
    ranUnits += cost;
    spent += cost;
    try {
      init.run(item, key, waited);
    } finally {
      worked += budget.charge(t) - t;
    }
  };

  /** Whether `cost` more fits before the queue must yield. */
  const fits = (cost: number) => spent + cost <= init.unitsPerTurn && worked < init.turnMs;

  const nextTurn = () => {
    if (turnPending || closed) return;
    turnPending = true;
    defer(() => {
      turnPending = false;
      spent = 0;
      worked = 0;
      if (!closed && refill === undefined) drain();
    });
  };

  const waitForBudget = () => {
    refill = timers.set(budget.msUntilReady(), () => {
      refill = undefined;
      nextTurn();
    });
  };

  function drain(): void {
    for (;;) {
      const first = flows.entries().next();
      if (first.done) return;
      const [key, flow] = first.value;
      if (!flow.visiting) {
        flow.visiting = true;
        flow.deficit += init.quantum;
      }
      const it = flow.items[flow.head]!;
      if (it.cost > flow.deficit) {
        // Its turn in this round is over: to the end of the round, keeping the deficit.
        flow.visiting = false;
        flows.delete(key);
        flows.set(key, flow);
        continue;
      }
      if (spent > 0 && !fits(it.cost)) {
        nextTurn();
        return;
      }
      const t = now();
      if (!budget.ready(t)) {
        waitForBudget();
        return;
      }
      flow.items[flow.head] = undefined as never;
      flow.head++;
      flow.deficit -= it.cost;
      flow.units -= it.cost;
      queuedUnits -= it.cost;
      if (flow.head === flow.items.length) flows.delete(key); // empty: leaves the round, deficit reset
      const waited = ranUnits - flow.headAt;
      run(key, it.item, it.cost, waited, t);
      flow.headAt = ranUnits;
      if (closed) return;
    }
  }

  /** The source other than `key` with the most units waiting. */
  const longestOther = (key: string): [string, Flow<T>] | undefined => {
    let best: [string, Flow<T>] | undefined;
    for (const e of flows) if (e[0] !== key && (!best || e[1].units > best[1].units)) best = e;
    return best;
  };

  const dropNewest = (key: string, flow: Flow<T>) => {
    const it = flow.items.pop()!;
    flow.units -= it.cost;
    queuedUnits -= it.cost;
    dropped++;
    if (flow.head === flow.items.length) flows.delete(key);
    init.onDrop(it.item, key, it.cost);
  };

  return {
    submit(key, units, item, at) {
      if (closed) return 'dropped';
      const cost = Math.max(1, units);
      if (queuedUnits === 0 && refill === undefined && (spent === 0 || fits(cost))) {
        const t = at ?? now();
        if (budget.ready(t)) {
          run(key, item, cost, 0, t);
          return 'ran';
        }
      }
      let flow = flows.get(key);
      // Make room: the source with the most waiting pays, which is this one if it would be the
      // biggest (ties go to the newcomer, so a fader gets in among equal flooders).
      for (;;) {
        const overUnits = queuedUnits + cost > init.maxQueuedUnits;
        const overSources = !flow && flows.size >= maxSources;
        if (!overUnits && !overSources) break;
        const big = longestOther(key);
        if (!big || big[1].units < (flow?.units ?? 0) + cost) {
          dropped++;
          init.onDrop(item, key, cost);
          return 'dropped';
        }
        if (overSources) while (flows.has(big[0])) dropNewest(big[0], big[1]);
        else dropNewest(big[0], big[1]);
      }
      if (!flow) {
        flow = { items: [], head: 0, units: 0, deficit: 0, visiting: false, headAt: ranUnits };
        flows.set(key, flow);
      }
      if (flow.head > 64 && flow.head * 2 > flow.items.length) {
        flow.items = flow.items.slice(flow.head);
        flow.head = 0;
      }
      flow.items.push({ item, cost });
      flow.units += cost;
      queuedUnits += cost;
      if (refill === undefined) nextTurn();
      return 'queued';
    },
    stats: () => ({ queuedUnits, queuedSources: flows.size, ranUnits, maxWaitUnits, dropped }),
    close() {
      closed = true;
      if (refill !== undefined) timers.clear(refill);
      refill = undefined;
      flows.clear();
      queuedUnits = 0;
    },
  };
}
