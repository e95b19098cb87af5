// The scoring page: each changed score is saved through the API with the rev the page holds, so a second
// tab cannot overwrite (409 stale_state asks to reload); out-of-range values are refused beside the form.
(function () {
  'use strict'
  var form = document.getElementById('score-form')
  if (!form) return
  var state = document.getElementById('save-state')
  var revField = document.getElementById('expected-rev')
  var csrf = form.querySelector('input[name=csrf_token]').value
  var inputs = form.querySelectorAll('input[data-key]')
  var pending = null
  var busy = false
  var again = false

  function scores () {
    var out = {}
    for (var i = 0; i < inputs.length; i++) {
      var raw = inputs[i].value.trim()
      if (raw !== '') out[inputs[i].dataset.key] = Number(raw)
    }
    return out
  }

  // One save at a time, each on the rev the last one returned: a change made during a save is sent after it.
  function save () {
    if (busy) { again = true; return }
    busy = true
    var rev = Number(revField.value)
    state.textContent = '保存中…'
    fetch(form.dataset.api, {
      method: 'PUT',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ scores: scores(), expected_rev: rev })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) {
          revField.value = body.rev
          state.textContent = '已保存（第 ' + body.rev + ' 版）'
        } else {
          state.textContent = body.detail || '保存失败，请重试。'
        }
      })
    }).catch(function () { state.textContent = '网络异常，未保存，请重试。' }).then(function () {
      busy = false
      if (again) { again = false; save() }
    })
  }

  form.addEventListener('change', function () {
    if (pending) clearTimeout(pending)
    pending = setTimeout(save, 200)
  })
  form.addEventListener('submit', function (event) {
    event.preventDefault()
    save()
  })
})()
