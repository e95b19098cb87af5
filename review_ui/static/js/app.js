// Small behaviours of the server-rendered pages (no inline scripts, so the CSP can forbid them).
(function () {
  'use strict'

  // Forms that ask first, e.g. "提交后不能再更换文件，确认提交？". Delegated: htmx swaps these forms in.
  document.addEventListener('submit', function (event) {
    var form = event.target
    if (!(form instanceof HTMLFormElement)) return
    // A button may ask its own question (e.g. 全部报送 beside 报送所选 in one form).
    var question = (event.submitter && event.submitter.getAttribute('data-confirm')) ||
      form.getAttribute('data-confirm')
    if (question && !window.confirm(question)) {
      event.preventDefault()
      return
    }
    // One click, one request: a second click while the page loads would only meet a conflict.
    // Disabled after the browser has built the form data, so the clicked button's name/value is sent.
    var buttons = form.querySelectorAll('button[type=submit]')
    setTimeout(function () {
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true
    }, 0)
  })

  // The opening line follows the chosen province ("我在{省}话保密，今天我要讲的是……").
  document.addEventListener('change', function (event) {
    var select = event.target
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute('data-opening-lines')) return
    var lines = JSON.parse(select.getAttribute('data-opening-lines') || '{}')
    var target = document.getElementById('opening-line')
    if (target && lines[select.value]) target.textContent = '“' + lines[select.value] + '”'
  })

  // A live count under a long text ("已输入 120 / 1500 字"): characters as the server counts them (code
  // points, so an emoji is one), shown in the element named by data-count-for.
  function showCount (field) {
    var out = document.querySelector('[data-count-for="' + field.id + '"]')
    if (!out) return
    var used = Array.from(field.value).length
    var max = Number(field.getAttribute('data-max-chars') || field.getAttribute('maxlength') || 0)
    out.textContent = '已输入 ' + used + (max ? ' / ' + max : '') + ' 字'
    out.classList.toggle('over', max > 0 && used > max)
  }
  document.addEventListener('input', function (event) {
    var field = event.target
    if ((field instanceof HTMLTextAreaElement || field instanceof HTMLInputElement) && field.id) showCount(field)
  })
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-count-for]').forEach(function (out) {
      var field = document.getElementById(out.getAttribute('data-count-for'))
      if (field) showCount(field)
    })
  })

  // Presigned playback URLs expire (CLIPJURY_S3_PRESIGN_EXPIRY_S, 1 hour): a player left open longer
  // fails on its next range request. Ask for fresh URLs and carry on from the same moment; at most
  // once a minute, so a video that is really unplayable does not loop.
  document.addEventListener('error', function (event) {
    var video = event.target
    if (!(video instanceof HTMLVideoElement)) return
    var url = video.getAttribute('data-playback-url')
    var last = Number(video.getAttribute('data-refreshed-at') || 0)
    if (!url || Date.now() - last < 60000) return
    video.setAttribute('data-refreshed-at', String(Date.now()))
    var at = video.currentTime
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : null })
      .then(function (play) {
        if (!play || !play.video_url) return
        if (play.poster_url) video.poster = play.poster_url
        video.addEventListener('loadedmetadata', function () {
          if (at) video.currentTime = at
        }, { once: true })
        video.src = play.video_url
      })
      .catch(function () {})
  }, true) // media errors do not bubble: listen while capturing
})()
