// The upload widget of a work page: Uppy's Dashboard sending the file with tus to /api/v1/uploads.
// Size and duration are checked here before a byte is sent, as advice only: the worker's verdict decides.
import { Dashboard, Tus, Uppy } from 'uppy'
import zh_CN from '@uppy/locales/lib/zh_CN.js'
import { layoutMetadata, planPieces } from './concat_plan.js'

const MiB = 1024 * 1024
const PARALLEL = 4

function formatDuration(seconds) {
  const s = Math.round(seconds)
  const m = Math.floor(s / 60)
  if (m > 0) return s % 60 === 0 ? `${m} 分钟` : `${m} 分 ${s % 60} 秒`
  return `${s} 秒`
}

// Resolves to the duration in seconds, or null when this browser cannot read it (e.g. HEVC on some
// desktops): then the file is allowed and the worker decides.
function readDuration(blob) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(blob)
    const video = document.createElement('video')
    let settled = false
    const done = (value) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      video.removeAttribute('src')
      video.load()
      URL.revokeObjectURL(url)
      resolve(value)
    }
    const timer = setTimeout(() => done(null), 10000)
    video.preload = 'metadata'
    video.muted = true
    video.addEventListener('loadedmetadata', () => {
      const d = video.duration
      done(Number.isFinite(d) && d > 0 ? d : null)
    })
    video.addEventListener('error', () => done(null))
    video.src = url
  })
}

function refreshStatus(root) {
  const target = document.getElementById('work-live')
  if (target && window.htmx) {
    window.htmx.ajax('GET', root.dataset.statusUrl, { target, swap: 'outerHTML' })
  }
}

function mount(root) {
  const workId = root.dataset.workId
  const maxSize = Number(root.dataset.maxSize)
  const maxDuration = Number(root.dataset.maxDuration)
  const partSize = Number(root.dataset.partSize) || 8 * MiB
  const advice = document.getElementById('upload-advice')
  const say = (text, kind) => {
    if (!advice) return
    advice.textContent = text
    advice.className = `notice notice-${kind}`
    advice.hidden = !text
  }

  const uppy = new Uppy({
    id: `work-${workId}`,
    locale: zh_CN,
    autoProceed: false,
    restrictions: {
      maxFileSize: maxSize,
      maxNumberOfFiles: 1,
      allowedFileTypes: ['.mp4', 'video/mp4'],
    },
    meta: { work_id: workId },
  })
  uppy.use(Dashboard, {
    target: root,
    inline: true,
    width: '100%',
    height: 360,
    proudlyDisplayPoweredByUppy: false,
    showProgressDetails: true,
    hideRetryButton: false,
    hidePauseResumeButton: false,
    note: `仅限 MP4 格式，不超过 ${Math.round(maxSize / MiB)} MB，时长不超过 ${formatDuration(maxDuration)}`,
  })
  uppy.use(Tus, {
    endpoint: root.dataset.endpoint,
    // The session cookie authenticates these requests; the token shows they come from this page.
    headers: { 'X-CSRF-Token': root.dataset.csrf },
    // Chunks of one S3 part (8 MiB): a dropped office connection loses at most one chunk, and resumes
    // from there.
    chunkSize: partSize,
    // Uppy hands this to tus-js-client: a file goes as up to 4 partial uploads at once (tus
    // concatenation) and a final upload joins them, so one slow TCP stream does not set the pace. Each
    // file gets its own pieces when it is added (see `file-added`); a small file goes as one upload.
    parallelUploads: PARALLEL,
    metadataForPartialUploads: { work_id: workId },
    retryDelays: [0, 1000, 3000, 5000, 10000],
    allowedMetaFields: ['work_id', 'filename'],
    removeFingerprintOnSuccess: true,
  })

  const checks = new Map()
  uppy.on('file-added', (file) => {
    say('', 'info')
    uppy.setFileMeta(file.id, { filename: file.name })
    // The pieces declare their layout, so the server writes each straight into the final object (no
    // copy at the end); the work id goes with them, so a work that no longer takes a file is refused
    // before a byte is sent.
    const pieces = planPieces(file.size, PARALLEL, partSize)
    uppy.setFileState(file.id, {
      tus: pieces
        ? {
            parallelUploads: pieces.length,
            parallelUploadBoundaries: pieces,
            metadataForPartialUploads: { work_id: workId, filename: file.name, ...layoutMetadata(pieces) },
          }
        : { parallelUploads: 1, parallelUploadBoundaries: null },
    })
    checks.set(file.id, readDuration(file.data).then((duration) => {
      if (duration !== null && duration > maxDuration + 0.5) {
        const text = `视频时长约 ${formatDuration(duration)}，超过 ${formatDuration(maxDuration)}的上限，`
          + '请剪辑后重新导出 MP4 再上传。'
        uppy.removeFile(file.id)
        say(text, 'error')
        return false
      }
      if (duration !== null) {
        uppy.setFileMeta(file.id, { browser_duration: duration.toFixed(1) })
      }
      return true
    }))
  })
  uppy.on('file-removed', (file) => checks.delete(file.id))
  uppy.on('restriction-failed', (_file, error) => say(error.message, 'error'))
  // Hold the upload until the duration check of its file has answered.
  uppy.addPreProcessor(async (fileIDs) => {
    await Promise.all(fileIDs.map((id) => checks.get(id) ?? Promise.resolve(true)))
  })
  uppy.on('upload-error', (file, error) => {
    const response = error?.originalResponse
    let detail = ''
    try { detail = JSON.parse(response?.getBody?.() ?? '').detail ?? '' } catch { detail = '' }
    let text = detail || '上传失败，请检查网络后点击重试；已上传的部分不会丢失。'
    if (response?.getStatus?.() === 401) {
      text = '登录已过期：请刷新页面、重新登录后再选择同一个文件，上传会从中断处继续。'
    }
    say(text, 'error')
    // Uppy has already put tus-js-client's own message (English, with the raw response) on the file,
    // the status bar and the informer: show ours there instead.
    if (file && uppy.getFile(file.id)) uppy.setFileState(file.id, { error: text })
    const { info } = uppy.getState()
    uppy.setState({
      error: text,
      info: info.map((item) => (item.type === 'error' && item.details ? { ...item, details: text } : item)),
    })
  })
  // A retry (or a new upload) starts afresh: the previous failure no longer applies.
  uppy.on('upload', () => {
    if (advice && advice.classList.contains('notice-error')) say('', 'info')
  })
  uppy.on('upload-success', () => {
    say('上传完成，正在校验视频，请稍候……', 'info')
    refreshStatus(root)
  })
  // Once the verdict is on the page, the "正在校验" advice has done its job.
  document.body.addEventListener('htmx:afterSettle', () => {
    const live = document.getElementById('work-live')
    if (live && live.dataset.status !== 'processing' && advice && advice.classList.contains('notice-info')) {
      say('', 'info')
    }
  })
  window.clipjuryUppy = uppy
}

const root = document.getElementById('uploader')
if (root) mount(root)
