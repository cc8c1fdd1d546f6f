// The console's own script (no inline script: the page's CSP allows only these files).
// The JSON editor: a textarea marked data-json says at once whether its text parses; the server
// checks it again (the key's type and constraint) when the change is reviewed.
document.addEventListener("input", (event) => {
  const area = event.target;
  if (!(area instanceof HTMLTextAreaElement) || !area.hasAttribute("data-json")) return;
  const error = document.getElementById("err-" + area.id.slice(3));
  try {
    if (area.value.trim() !== "") JSON.parse(area.value);
    area.classList.remove("invalid");
    if (error) error.textContent = "";
  } catch (problem) {
    area.classList.add("invalid");
    if (error) error.textContent = "Not valid JSON yet: " + problem.message;
  }
});
