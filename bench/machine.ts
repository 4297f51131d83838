/**
 * How busy the machine is while the benchmark runs. The load average alone cannot tell: during a run
 * the benchmark's own processes (broker + worker, ~2 runnable) raise it. So besides the load average,
 * the harness counts the CPU time the whole machine spent (`/proc/stat`) minus what its own process
 * tree spent (this process, its reaped children: workers, mosquitto_pub/sub; and the still running
 * mosquitto, read from `/proc/<pid>/stat`): what is left is what other processes took from the run.
 * Linux only; elsewhere the samples are `undefined` and only the load average is reported.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"

export interface CpuSample {
  /** Machine-wide clock ticks, idle included (the denominator). */
  readonly total: number
  /** Machine-wide ticks spent running something (user, nice, system, irq, softirq). */
  readonly busy: number
  /** Ticks the hypervisor gave to other guests. */
  readonly steal: number
  /** Ticks of this process, its reaped children and the listed live processes (the broker). */
  readonly own: number
}

/** utime + stime (+ cutime + cstime with `children`) of one process, in clock ticks. */
const processTicks = (pid: number | "self", children: boolean): number => {
  const text = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  // fields after "(comm) ": state is fields[0], utime fields[11], stime [12], cutime [13], cstime [14]
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const ticks = (i: number) => Number(fields[i] ?? 0)
  return ticks(11) + ticks(12) + (children ? ticks(13) + ticks(14) : 0)
}

/**
 * A sample to diff against a later one. Take it when no child other than `livePids` is running (between
 * workers): a running child's time only shows in `cutime` once it has been reaped.
 */
export const cpuSample = (livePids: ReadonlyArray<number> = []): CpuSample | undefined => {
  try {
    const line = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const v = line.trim().split(/\s+/).slice(1).map(Number)
    const at = (i: number) => v[i] ?? 0
    const own = processTicks("self", true) + livePids.reduce((sum, pid) => {
      try {
        return sum + processTicks(pid, false)
      } catch {
        return sum // already gone: its time is in this process's cutime
      }
    }, 0)
    return {
      total: at(0) + at(1) + at(2) + at(3) + at(4) + at(5) + at(6) + at(7),
      busy: at(0) + at(1) + at(2) + at(5) + at(6),
      steal: at(7),
      own
    }
  } catch {
    return undefined
  }
}

export interface CpuShare {
  /** Share of the machine's CPU (all cores) used by processes outside the benchmark, 0..1. */
  readonly others: number
  /** Share used by the benchmark itself. */
  readonly own: number
  /** Share stolen by the hypervisor. */
  readonly steal: number
}

export const cpuShare = (from: CpuSample | undefined, to: CpuSample | undefined): CpuShare | undefined => {
  if (from === undefined || to === undefined) return undefined
  const total = to.total - from.total
  if (!(total > 0)) return undefined
  const own = Math.min(to.own - from.own, to.busy - from.busy)
  return {
    others: Math.max(0, (to.busy - from.busy - own) / total),
    own: own / total,
    steal: (to.steal - from.steal) / total
  }
}

export const formatShare = (share: CpuShare | undefined): string =>
  share === undefined
    ? "other processes: unknown (no /proc)"
    : `other processes ${(share.others * 100).toFixed(0)}% of the CPU (bench ${(share.own * 100).toFixed(0)}%${
      share.steal >= 0.01 ? `, steal ${(share.steal * 100).toFixed(0)}%` : ""
    })`

/**
 * Busy: the 1-minute load average before the run reaches half the cores (the benchmark alone needs
 * ~2 runnable processes: on 2 cores anything else already competes), or other processes took at
 * least BUSY_SHARE of the CPU during the run.
 */
export const BUSY_SHARE = 0.1

export const busyReasons = (loadBefore: ReadonlyArray<number>, share: CpuShare | undefined): Array<string> => {
  const cores = Os.cpus().length
  const reasons: Array<string> = []
  const load1 = loadBefore[0] ?? 0
  if (load1 >= cores / 2) reasons.push(`load average ${load1.toFixed(2)} before the run on ${cores} cores (>= ${cores / 2})`)
  if (share !== undefined && share.others >= BUSY_SHARE) {
    reasons.push(`other processes used ${(share.others * 100).toFixed(0)}% of the CPU during the run (>= ${BUSY_SHARE * 100}%)`)
  }
  if (share !== undefined && share.steal >= BUSY_SHARE) {
    reasons.push(`the hypervisor stole ${(share.steal * 100).toFixed(0)}% of the CPU (>= ${BUSY_SHARE * 100}%)`)
  }
  return reasons
}

export const formatLoad = (load: ReadonlyArray<number>): string => load.map((l) => l.toFixed(2)).join(" ")

/** The machine as a run starts: the load average and a CPU sample (the broker's process counted as the bench's). */
export interface MachineAtStart {
  readonly loadBefore: ReadonlyArray<number>
  readonly cpuBefore: CpuSample | undefined
}

/** Samples the machine before a run and says when it is already busy (the numbers will be flagged). */
export const machineAtStart = (benchPids: ReadonlyArray<number>, repeat: number): MachineAtStart => {
  const loadBefore = Os.loadavg()
  const cpuBefore = cpuSample(benchPids)
  console.log(`load average before ${formatLoad(loadBefore)} (1, 5, 15 min); repeat ${repeat}`)
  const early = busyReasons(loadBefore, undefined)
  if (early.length > 0) console.log(`the machine is busy before the run (${early.join("; ")}): numbers will be flagged`)
  return { loadBefore, cpuBefore }
}

/** The verdict on a finished run: how busy the machine was, as data and as the summary's two lines. */
export const machineVerdict = (start: MachineAtStart, cpuAfter: CpuSample | undefined) => {
  const loadAfter = Os.loadavg()
  const cpuRun = cpuShare(start.cpuBefore, cpuAfter)
  const busy = busyReasons(start.loadBefore, cpuRun)
  const machineLine = `load average before ${formatLoad(start.loadBefore)}, after ${formatLoad(loadAfter)} (the run itself adds ~2); during the run: ${
    formatShare(cpuRun)
  }`
  const busyLine = busy.length === 0
    ? "machine: quiet enough (load average before < cores / 2, other processes < 10% of the CPU)"
    : `BUSY MACHINE: ${busy.join("; ")}. This run's numbers are not results; rerun on a quiet machine.`
  return { loadBefore: start.loadBefore, loadAfter, cpuRun, busy, machineLine, busyLine }
}
