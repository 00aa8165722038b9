// Debounce and throttle helpers for search-as-you-type inputs.

export function debounce(fn, waitMs = 250) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), waitMs);
  };
}

export function throttle(fn, intervalMs = 100) {
  let last = 0;
  return function throttled(...args) {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      fn.apply(this, args);
    }
  };
}

// Usage: only query the library catalogue after the user pauses typing.
const input = document.querySelector("#catalogue-search");
input?.addEventListener("input", debounce((e) => fetchBooks(e.target.value), 300));
