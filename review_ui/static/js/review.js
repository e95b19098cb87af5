// The review page's checklist: count the ticked items, and when a reviewer chooses 不通过 or 退回修改
// with an empty reason, start the reason from the items left unticked (the reviewer edits it).
(function () {
  'use strict'
  var form = document.getElementById('verdict-form')
  if (!form) return
  var boxes = form.querySelectorAll('input[name=checked]')
  var reason = document.getElementById('verdict-reason')
  var hint = document.getElementById('verdict-hint')
  var count = document.getElementById('checklist-count')

  function unticked () {
    var items = []
    for (var i = 0; i < boxes.length; i++) {
      if (!boxes[i].checked) items.push(boxes[i].parentNode.textContent.trim())
    }
    return items
  }

  function chosen () {
    var radio = form.querySelector('input[name=decision]:checked')
    return radio ? radio.value : ''
  }

  function update () {
    var missing = unticked()
    if (count) count.textContent = '（已核对 ' + (boxes.length - missing.length) + '/' + boxes.length + '）'
    var decision = chosen()
    hint.hidden = true
    if (decision === 'pass' && missing.length) {
      hint.textContent = '判定通过前，请勾选全部审核要点（还有 ' + missing.length + ' 项未勾选）。'
      hint.hidden = false
    } else if ((decision === 'fail' || decision === 'return') && !reason.value.trim()) {
      hint.textContent = '请填写理由，投稿人会看到它。'
      hint.hidden = false
    }
  }

  form.addEventListener('change', function (event) {
    var target = event.target
    if (target.name === 'decision' && (target.value === 'fail' || target.value === 'return') && !reason.value.trim()) {
      var missing = unticked()
      if (missing.length) reason.value = '不符合以下要求：\n' + missing.map(function (m) { return '· ' + m }).join('\n')
    }
    update()
  })
  reason.addEventListener('input', update)
  update()
})()
