// The like button: a voter token from localStorage (never a cookie: the showcase pages stay cacheable and the
// same for everyone), else the phone sign-in (POST /api/v1/public/codes, then /api/v1/public/sessions), then
// PUT /api/v1/showcase/works/{id}/like. The count shown is the API's answer.
(function () {
  'use strict'
  var KEY = 'clipjury.voter'

  function stored () {
    try {
      var saved = JSON.parse(window.localStorage.getItem(KEY) || 'null')
      if (saved && saved.token && saved.expires > Date.now() + 60000) return saved
    } catch (e) { /* a broken entry is no token */ }
    return null
  }

  function keep (token, expiresInS, nickname) {
    try {
      window.localStorage.setItem(KEY, JSON.stringify({ token: token, expires: Date.now() + expiresInS * 1000, nickname: nickname }))
    } catch (e) { /* private mode: the token lives for this page only */ }
    memory = { token: token, expires: Date.now() + expiresInS * 1000, nickname: nickname }
  }

  function forget () {
    try { window.localStorage.removeItem(KEY) } catch (e) { /* nothing kept */ }
    memory = null
  }

  var memory = null
  function token () { return (stored() || memory || {}).token || '' }

  function call (method, url, body, withToken) {
    var headers = { Accept: 'application/json' }
    if (body) headers['Content-Type'] = 'application/json'
    if (withToken && token()) headers.Authorization = 'Bearer ' + token()
    return fetch(url, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, credentials: 'omit' })
      .then(function (response) {
        return response.json().catch(function () { return {} }).then(function (data) {
          return { status: response.status, data: data }
        })
      })
  }

  function setup (box) {
    var workId = box.getAttribute('data-work')
    var button = box.querySelector('[data-like-button]')
    var label = box.querySelector('[data-like-label]')
    var count = box.querySelector('[data-like-count]')
    var message = box.querySelector('[data-like-msg]')
    var form = box.querySelector('[data-like-signin]')
    var send = box.querySelector('[data-like-send]')
    var error = box.querySelector('[data-like-error]')
    var url = '/api/v1/showcase/works/' + workId + '/like'
    var timer = null

    function liked (answer) {
      count.textContent = String(answer.likes)
      button.setAttribute('aria-pressed', answer.liked ? 'true' : 'false')
      // Outside the window the page's own reason ("点赞已截止") stays unless this voter liked it.
      if (answer.liked || !button.hasAttribute('data-like-closed')) label.textContent = answer.liked ? '已点赞' : '点赞'
    }

    function say (text) { message.textContent = text || '' }

    function like () {
      button.disabled = true
      say('')
      call('PUT', url, null, true).then(function (r) {
        button.disabled = false
        if (r.status === 201 || r.status === 200) {
          liked(r.data)
          say(r.status === 201 ? '点赞成功，感谢参与！' : '您已经为这件作品点过赞了。')
        } else if (r.status === 401) {
          forget()
          form.hidden = false
          say('请先验证手机号码。')
        } else {
          say(r.data.detail || '点赞没有成功，请稍后再试。')
        }
      }, function () {
        button.disabled = false
        say('网络连接失败，请稍后再试。')
      })
    }

    button.addEventListener('click', function () {
      if (token()) { like(); return }
      form.hidden = false
      form.querySelector('input[name="phone"]').focus()
    })

    send.addEventListener('click', function () {
      error.textContent = ''
      var phone = form.elements.phone.value
      send.disabled = true
      call('POST', '/api/v1/public/codes', { phone: phone, purpose: 'vote' }, false).then(function (r) {
        if (r.status !== 202) {
          send.disabled = false
          error.textContent = r.data.detail || '验证码发送失败，请稍后再试。'
          return
        }
        var left = r.data.resend_after_s || 60
        send.textContent = left + ' 秒后可重发'
        timer = setInterval(function () {
          left -= 1
          if (left <= 0) {
            clearInterval(timer)
            send.disabled = false
            send.textContent = '重新获取'
          } else {
            send.textContent = left + ' 秒后可重发'
          }
        }, 1000)
        form.elements.code.focus()
      }, function () {
        send.disabled = false
        error.textContent = '网络连接失败，请稍后再试。'
      })
    })

    form.addEventListener('submit', function (event) {
      event.preventDefault()
      error.textContent = ''
      var body = {
        phone: form.elements.phone.value,
        code: form.elements.code.value,
        nickname: form.elements.nickname.value,
        consent: form.elements.consent.checked,
      }
      call('POST', '/api/v1/public/sessions', body, false).then(function (r) {
        if (r.status !== 200) {
          error.textContent = r.data.detail || '验证没有成功，请检查后再试。'
          return
        }
        keep(r.data.access_token, r.data.expires_in_s, r.data.nickname)
        form.hidden = true
        like()
      }, function () {
        error.textContent = '网络连接失败，请稍后再试。'
      })
    })

    // A returning voter sees whether they liked it already.
    if (token()) {
      call('GET', url, null, true).then(function (r) {
        if (r.status === 200) liked(r.data)
        else if (r.status === 401) forget()
      }, function () {})
    }
  }

  document.querySelectorAll('[data-like]').forEach(setup)
})()
