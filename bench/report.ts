/** The results table (stdout, README) and the SVG bar chart. */

export interface Row {
  readonly case: string
  readonly ours: number
  readonly mqttjs: number
  /** > 1: ours is better (ours/theirs for msg/s, theirs/ours for ms and MB). */
  readonly ratio: number
  readonly unit: string
}

/** A row plus what only the table shows. */
export interface TableRow extends Row {
  /** mosquitto_pub → mosquitto_sub, throughput cases only. */
  readonly reference?: number
  readonly note?: string
}

export const higherIsBetter = (unit: string): boolean => unit === "msg/s"

export const ratioOf = (ours: number, mqttjs: number, unit: string): number => {
  if (!(ours > 0) || !(mqttjs > 0)) return 0
  return higherIsBetter(unit) ? ours / mqttjs : mqttjs / ours
}

const format = (value: number | undefined, unit: string): string => {
  if (value === undefined || Number.isNaN(value)) return "–"
  if (unit === "msg/s") return Math.round(value).toLocaleString("en-US")
  if (unit === "ms") return value < 10 ? value.toFixed(3) : value.toFixed(1)
  return value.toFixed(1)
}

export const markdownTable = (rows: ReadonlyArray<TableRow>): string => {
  const header = ["case", "unit", "ours", "MQTT.js", "ratio", "mosquitto_pub/sub"]
  const lines = [
    `| ${header.join(" | ")} |`,
    `| ${header.map((h, i) => (i >= 2 ? "---:" : "---")).join(" | ")} |`
  ]
  for (const row of rows) {
    const ratio = row.ratio > 0 ? `${row.ratio.toFixed(2)}×` : "–"
    lines.push(
      `| ${row.case}${row.note ? ` (${row.note})` : ""} | ${row.unit} | ${format(row.ours, row.unit)} | ${format(row.mqttjs, row.unit)} | ${ratio} | ${
        row.reference === undefined ? "" : format(row.reference, row.unit)
      } |`
    )
  }
  return lines.join("\n")
}

export const geometricMean = (values: ReadonlyArray<number>): number => {
  const positive = values.filter((v) => v > 0)
  if (positive.length === 0) return 0
  return Math.exp(positive.reduce((sum, v) => sum + Math.log(v), 0) / positive.length)
}

const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * Horizontal grouped bars: one group per case, two bars (ours, MQTT.js) scaled to the larger of the
 * two (units differ between cases), the values and the ratio written next to them.
 */
export const svgChart = (rows: ReadonlyArray<Row>, title: string, subtitle: string): string => {
  const width = 980
  const labelWidth = 360
  const barArea = 440
  const barHeight = 13
  const groupHeight = 2 * barHeight + 16
  const top = 78
  const height = top + rows.length * groupHeight + 40
  const ours = "#4f46e5"
  const theirs = "#9ca3af"
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="16" y="46" fill="#555">${escapeXml(subtitle)}</text>`,
    `<rect x="16" y="56" width="12" height="12" fill="${ours}"/><text x="34" y="66">aimeqtt (ours)</text>`,
    `<rect x="140" y="56" width="12" height="12" fill="${theirs}"/><text x="158" y="66">MQTT.js</text>`,
    `<text x="240" y="66" fill="#555">ratio &gt; 1 = ours better (msg/s: ours/theirs; ms, MB: theirs/ours)</text>`
  )
  rows.forEach((row, index) => {
    const y = top + index * groupHeight
    const max = Math.max(row.ours, row.mqttjs, 1e-9)
    const w1 = Math.max(1, (row.ours / max) * barArea)
    const w2 = Math.max(1, (row.mqttjs / max) * barArea)
    const x0 = labelWidth
    const good = row.ratio >= 1
    if (index % 2 === 0) out.push(`<rect x="0" y="${y - 4}" width="${width}" height="${groupHeight}" fill="#f7f7fb"/>`)
    out.push(
      `<g>`,
      `<text x="${x0 - 8}" y="${y + barHeight + 4}" text-anchor="end">${escapeXml(row.case)}</text>`,
      `<text x="${x0 - 8}" y="${y + 2 * barHeight + 4}" text-anchor="end" fill="#777" font-size="10">${escapeXml(row.unit)}</text>`,
      `<rect x="${x0}" y="${y}" width="${w1.toFixed(1)}" height="${barHeight}" fill="${ours}"/>`,
      `<text x="${(x0 + w1 + 4).toFixed(1)}" y="${y + barHeight - 2}" font-size="10">${escapeXml(format(row.ours, row.unit))}</text>`,
      `<rect x="${x0}" y="${y + barHeight + 2}" width="${w2.toFixed(1)}" height="${barHeight}" fill="${theirs}"/>`,
      `<text x="${(x0 + w2 + 4).toFixed(1)}" y="${y + 2 * barHeight}" font-size="10">${escapeXml(format(row.mqttjs, row.unit))}</text>`,
      `<text x="${width - 16}" y="${y + barHeight + 4}" text-anchor="end" font-weight="bold" fill="${good ? "#15803d" : "#b91c1c"}">${
        row.ratio > 0 ? row.ratio.toFixed(2) + "×" : "n/a"
      }</text>`,
      `</g>`
    )
  })
  out.push(`</svg>`)
  return out.join("\n") + "\n"
}
