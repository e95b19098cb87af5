// The quota dashboards' two charts, drawn with ECharts from the JSON the page embeds in
// <script type="application/json" id="dashboard-data"> (no inline script, so the CSP stays strict).
// Tree-shaken: only ECharts' core, bar and scatter series, the grid/tooltip/legend/aria components
// and the canvas renderer end up in the bundle.
import { init, use } from 'echarts/core'
import { BarChart, ScatterChart } from 'echarts/charts'
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

use([BarChart, ScatterChart, GridComponent, TooltipComponent, LegendComponent, AriaComponent, CanvasRenderer])

const COLORS = {
  bad: '#cf222e',
  ok: '#1a7f37',
  line: '#1f2328',
  forwarded: '#0969da',
  passed: '#4ac26b',
  failed: '#ff8182',
  pending: '#afb8c1',
  muted: '#656d76',
}
const FONT = 'system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif'
const ROW_HEIGHT = 30

function escapeHtml (text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function chartHeight (rows, extra) {
  return Math.max(160, rows.length * ROW_HEIGHT + extra)
}

function baseOption (rows) {
  return {
    textStyle: { fontFamily: FONT, fontSize: 13 },
    animation: false,
    aria: { enabled: true },
    grid: { left: 8, right: 56, top: 36, bottom: 8 },
    yAxis: {
      type: 'category',
      inverse: true,
      data: rows.map((r) => r.label),
      axisTick: { show: false },
      axisLabel: { color: '#1f2328', width: 120, overflow: 'truncate', fontSize: 13 },
    },
    xAxis: {
      type: 'value',
      minInterval: 1,
      position: 'top',
      axisLabel: { color: COLORS.muted },
      splitLine: { lineStyle: { color: '#eaeef2' } },
    },
  }
}

function quotaOption (rows) {
  const withQuota = rows
    .map((r, i) => (r.met === null ? null : { value: [r.required, i], label: { show: !r.met } }))
    .filter(Boolean)
  return {
    ...baseOption(rows),
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter (params) {
        const r = rows[params[0].dataIndex]
        const state = r.met === null
          ? '不设配额'
          : r.met ? '已达标' : `未达标，差 ${r.required - r.submitted} 件`
        return `<strong>${escapeHtml(r.label)}</strong><br>已提交 ${r.submitted} 件 / 最低 ${r.required} 件<br>${state}`
      },
    },
    series: [
      {
        name: '已提交',
        type: 'bar',
        barMaxWidth: 18,
        data: rows.map((r) => ({
          value: r.submitted,
          itemStyle: { color: r.met === false ? COLORS.bad : r.met ? COLORS.ok : COLORS.pending, borderRadius: [0, 3, 3, 0] },
        })),
        // A bar that reaches its quota carries the figures; a short one leaves them to its tick.
        label: {
          show: true,
          position: 'right',
          color: '#1f2328',
          formatter: (p) => {
            const r = rows[p.dataIndex]
            if (r.met === null) return `${r.submitted}`
            return r.met ? `${r.submitted}/${r.required}` : ''
          },
        },
      },
      {
        // The required minimum of each row, as a dark tick across its bar.
        name: '最低数量',
        type: 'scatter',
        symbol: 'rect',
        symbolSize: [3, 22],
        itemStyle: { color: COLORS.line },
        z: 5,
        data: withQuota,
        label: {
          position: 'right',
          distance: 4,
          color: COLORS.bad,
          fontWeight: 'bold',
          formatter: (p) => {
            const r = rows[p.value[1]]
            return `${r.submitted}/${r.required}`
          },
        },
        tooltip: { show: false },
      },
    ],
  }
}

function progressOption (rows) {
  const series = [
    ['已报送复评', 'forwarded', (r) => r.forwarded],
    ['初评通过待报送', 'passed', (r) => Math.max(0, r.passed - r.forwarded)],
    ['初评未通过', 'failed', (r) => r.failed],
    ['待初评', 'pending', (r) => r.pending],
  ].map(([name, key, value]) => ({
    name,
    type: 'bar',
    stack: 'review',
    barMaxWidth: 18,
    itemStyle: { color: COLORS[key] },
    emphasis: { focus: 'series' },
    data: rows.map(value),
  }))
  return {
    ...baseOption(rows),
    grid: { left: 8, right: 24, top: 64, bottom: 8 },
    legend: { top: 0, left: 0, itemWidth: 14, itemHeight: 10, textStyle: { fontSize: 13 } },
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter (params) {
        const r = rows[params[0].dataIndex]
        const lines = params.map((p) => `${p.marker}${escapeHtml(p.seriesName)} ${p.value} 件`)
        return `<strong>${escapeHtml(r.label)}</strong>（已提交 ${r.submitted} 件）<br>${lines.join('<br>')}`
      },
    },
    series,
  }
}

function draw (element, option, rows, extra) {
  element.style.height = `${chartHeight(rows, extra)}px`
  const chart = init(element, null, { renderer: 'canvas' })
  chart.on('finished', () => { element.dataset.rendered = 'true' })
  chart.setOption(option)
  // Provinces drill down into their units.
  chart.on('click', (params) => {
    const row = rows[params.dataIndex]
    if (row && row.href) window.location.assign(row.href)
  })
  return chart
}

function main () {
  const source = document.getElementById('dashboard-data')
  if (!source) return
  const data = JSON.parse(source.textContent || '{}')
  const rows = data.rows || []
  if (!rows.length) return
  const charts = []
  const quota = document.getElementById('chart-quota')
  if (quota) charts.push(draw(quota, quotaOption(rows), rows, 50))
  const progress = document.getElementById('chart-progress')
  if (progress) charts.push(draw(progress, progressOption(rows), rows, 78))
  let pending = 0
  window.addEventListener('resize', () => {
    cancelAnimationFrame(pending)
    pending = requestAnimationFrame(() => charts.forEach((c) => c.resize()))
  })
}

main()
