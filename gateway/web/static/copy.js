// "Copy link" buttons: progressive enhancement. Without JavaScript the button stays
// hidden and the link can be opened or copied by hand; with it, one press copies the
// link and a live region says so (or says to copy it by hand if the browser refuses).
for (const button of document.querySelectorAll('[data-copy-target]')) {
  const target = document.getElementById(button.dataset.copyTarget);
  const status = document.getElementById(button.dataset.copyStatus);
  if (!target || !status || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(target.textContent.trim());
      status.textContent = 'Link copied. Paste it into your calendar app.';
    } catch {
      status.textContent = 'Your browser did not let us copy it: select the link and copy it.';
    }
  });
}
