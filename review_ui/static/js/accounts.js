// The accounts page: copy the invitation link shown once after creating an account.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // Without the clipboard API (an http:// address other than localhost): select it for Ctrl+C.
    field.select();
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = button.dataset.copied || "已复制";
  setTimeout(() => { button.textContent = label; }, 2000);
});
