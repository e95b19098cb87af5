// 展播点赞: likes per hour (or per minute over the last 24 hours) as a line chart, drawn with ECharts from
// the JSON the page embeds in <script type="application/json" id="likes-data"> and, while the window is
// open, refreshed every 30 s from GET /api/v1/showcase/likes/timeline (the page's session cookie; a GET
// needs no CSRF token). Tree-shaken: ECharts' core, the line series, grid/tooltip/legend/aria, canvas.
import { init, use } from 'echarts/core'
import { LineChart } from 'echarts/charts'
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

use([LineChart, GridComponent, TooltipComponent, LegendComponent, AriaComponent, CanvasRenderer])

const FONT = 'system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif'
const REFRESH_MS = 30000

// The buckets are UTC; people read Beijing time.
function beijing (iso, bucket) {
  const shown = new Date(new Date(iso).getTime() + 8 * 3600 * 1000).toISOString()
  return bucket === 'minute' ? shown.slice(5, 16).replace('T', ' ') : `${shown.slice(5, 13).replace('T', ' ')}时`
}

function option (data) {
  const labels = data.points.map((p) => beijing(p.at, data.bucket))
  return {
    textStyle: { fontFamily: FONT, fontSize: 13 },
    animation: false,
    aria: { enabled: true },
    grid: { left: 48, right: 16, top: 40, bottom: 32 },
    legend: { top: 0, left: 0 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: labels, boundaryGap: false },
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { name: '计入的点赞', type: 'line', showSymbol: labels.length < 60, data: data.points.map((p) => p.likes), itemStyle: { color: '#0969da' }, areaStyle: { opacity: 0.08 } },
      { name: '已作废', type: 'line', showSymbol: false, data: data.points.map((p) => p.voided), itemStyle: { color: '#cf222e' } },
    ],
  }
}

async function fetchTimeline (bucket) {
  const response = await fetch(`/api/v1/showcase/likes/timeline?bucket=${bucket}`, { credentials: 'same-origin' })
  if (!response.ok) throw new Error(`timeline ${response.status}`)
  return response.json()
}

function main () {
  const source = document.getElementById('likes-data')
  const element = document.getElementById('chart-likes')
  if (!source || !element) return
  let data = JSON.parse(source.textContent || '{}')
  element.style.height = '320px'
  const chart = init(element, null, { renderer: 'canvas' })
  chart.on('finished', () => { element.dataset.rendered = 'true' })
  chart.setOption(option(data))
  element.dataset.points = String(data.points.length)

  async function show (bucket) {
    try {
      data = { ...(await fetchTimeline(bucket)), live: data.live }
      chart.setOption(option(data), { notMerge: true })
      element.dataset.points = String(data.points.length)
      element.dataset.bucket = bucket
    } catch (error) {
      element.dataset.error = String(error)
    }
  }

  document.querySelectorAll('#chart-buckets [data-bucket]').forEach((button) => {
    button.addEventListener('click', () => {
      document.querySelectorAll('#chart-buckets [data-bucket]').forEach((b) => b.setAttribute('aria-pressed', String(b === button)))
      show(button.dataset.bucket)
    })
  })
  if (data.live) setInterval(() => show(data.bucket), REFRESH_MS)
  window.addEventListener('resize', () => chart.resize())
}

main()
