// Registration and password reset: both forms post JSON to the public API (a cross-site page cannot),
// show each refusal beside its field, and keep what was typed.
(function () {
  "use strict";
  var form = document.getElementById("register-form") || document.getElementById("reset-form");
  if (!form) return;
  var purpose = form.getAttribute("data-purpose");
  var sendButton = document.getElementById("send-code");
  var formError = document.getElementById("form-error");
  // Which field each stable error code belongs to; anything else is shown above the form.
  var FIELD_OF = {
    bad_phone: "phone", phone_taken: "phone", too_many: "phone",
    bad_code: "code",
    nickname_required: "nickname",
    nickname_too_long: "nickname",
    nickname_invalid: "nickname",
    weak_password: "password", password_too_short: "password", password_too_long: "password",
    password_too_simple: "password", password_contains_username: "password", password_too_common: "password",
    unknown_province: "province",
    bad_join_code: "unit_join_code", province_mismatch: "unit_join_code",
    consent_required: "consent"
  };

  function clearErrors() {
    formError.hidden = true;
    form.querySelectorAll(".pub-field-error").forEach(function (el) { el.hidden = true; el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showError(problem) {
    var message = (problem && problem.detail) || "出现问题，请稍后重试。";
    var field = problem && FIELD_OF[problem.code];
    var slot = field && form.querySelector('.pub-field-error[data-for="' + field + '"]');
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
      var input = document.getElementById(field);
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    } else {
      formError.textContent = message;
      formError.hidden = false;
    }
  }

  function post(url, body, token) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body), credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) return data;
          if (data.code === "invalid") {
            data = { detail: "请检查填写的内容是否完整。" };
          }
          throw data;
        });
      }, function () { throw { detail: "网络连接失败，请检查网络后重试。" }; });
  }

  function countdown(seconds) {
    sendButton.disabled = true;
    var left = seconds;
    function tick() {
      if (left <= 0) { sendButton.disabled = false; sendButton.textContent = "重新获取"; return; }
      sendButton.textContent = left + " 秒后可重发";
      left -= 1;
      setTimeout(tick, 1000);
    }
    tick();
  }

  sendButton.addEventListener("click", function () {
    clearErrors();
    var phone = document.getElementById("phone").value;
    if (!phone.trim()) { showError({ code: "bad_phone", detail: "请先填写手机号。" }); return; }
    sendButton.disabled = true;
    post("/api/v1/public/codes", { phone: phone, purpose: purpose }).then(function (sent) {
      countdown(sent.resend_after_s || 60);
      document.getElementById("code").focus();
    }, function (problem) {
      sendButton.disabled = false;
      if (problem && problem.retry_after_s) countdown(problem.retry_after_s);
      showError(problem);
    });
  });

  function value(id) {
    var el = document.getElementById(id);
    return el ? el.value : "";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    var submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    var done = function () { submit.disabled = false; };
    if (purpose === "register") {
      var body = {
        phone: value("phone"), code: value("code"), nickname: value("nickname"), password: value("password"),
        province: value("province"), consent: document.getElementById("consent").checked
      };
      if (!body.province) { showError({ code: "unknown_province", detail: "请选择所在的省份（或中央部门）。" }); done(); return; }
      if (value("unit_join_code").trim()) body.unit_join_code = value("unit_join_code");
      post("/api/v1/public/register", body).then(function (registered) {
        return post("/api/v1/auth/web-session", {}, registered.access_token);
      }).then(function (started) {
        window.location.assign(started.home || "/");
      }, function (problem) { showError(problem); done(); });
    } else {
      post("/api/v1/public/password-reset", { phone: value("phone"), code: value("code"), password: value("password") })
        .then(function () {
          form.hidden = true;
          document.getElementById("form-done").hidden = false;
        }, function (problem) { showError(problem); done(); });
    }
  });
})();
