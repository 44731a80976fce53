// Sortable tables, a progressive enhancement: a click on a header of a table.sortable sorts
// its rows in the browser. Without this script, /models sorts on the server through links.
document.addEventListener("click", (event) => {
  const th = event.target.closest("table.sortable th");
  if (!th) return;
  event.preventDefault();
  const table = th.closest("table");
  const column = Array.from(th.parentNode.children).indexOf(th);
  const descending = th.getAttribute("aria-sort") !== "descending";
  const key = (row) => {
    const cell = row.children[column];
    if (!cell) return "";
    const value = cell.dataset.value ?? cell.textContent.trim();
    const number = Number(value.replace(/[$,%]/g, ""));
    return value !== "" && !Number.isNaN(number) ? number : value.toLowerCase();
  };
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  table.querySelectorAll("th[aria-sort]").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  rows.forEach((row) => body.appendChild(row));
});
