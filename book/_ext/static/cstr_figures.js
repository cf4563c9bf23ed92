// Wide figures (three panels side by side) are drawn at about twice the width of the page's column.
// Each output figure becomes a link to its own image file, so a reader can open it at full size.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("div.cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.target = "_blank";
    link.rel = "noopener";
    link.title = "Open the figure at full size";
    link.className = "cstr-figure-link";
    img.parentNode.insertBefore(link, img);
    link.appendChild(img);
  });
});
