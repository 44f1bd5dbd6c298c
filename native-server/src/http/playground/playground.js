// The Refract playground (docs/playground.md). Served by `refract serve` with a CSP that allows
// only this origin; it builds the DOM with textContent and attributes (never from HTML text), and
// percent-encodes keys and option values into every URL it requests.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  // What Chromium sends for <img>, so format=auto negotiates as a page's images would.
  const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
  const OPTIONS = ['width', 'height', 'fit', 'gravity', 'quality', 'format', 'blur', 'sharpen',
    'brightness', 'contrast', 'saturation', 'rotate', 'flip'];
  const TABLE_FORMATS = ['jpeg', 'webp', 'avif'];

  const state = { key: '', originalBytes: 0, generation: 0 };

  // --- URLs -------------------------------------------------------------------------------

  /** The key as a URL path: each segment percent-encoded, the `/` between them kept. */
  function encodeKey(key) {
    return key.split('/').map(encodeURIComponent).join('/');
  }

  /** The chosen options as [name, value] pairs, in a stable order, defaults left out. */
  function chosenOptions() {
    const pairs = [];
    for (const name of OPTIONS) {
      const value = $(name).value.trim();
      if (value !== '') pairs.push([name, value]);
    }
    return pairs;
  }

  function withOption(pairs, name, value) {
    const out = pairs.filter(([k]) => k !== name);
    if (value !== null) out.push([name, value]);
    return sortPairs(out);
  }

  function sortPairs(pairs) {
    return pairs.slice().sort((a, b) => OPTIONS.indexOf(a[0]) - OPTIONS.indexOf(b[0]));
  }

  function queryUrl(key, pairs) {
    const q = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    return `/${encodeKey(key)}${q ? `?${q}` : ''}`;
  }

  function cdnUrl(key, pairs) {
    const o = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join(',');
    return `/cdn-cgi/image/${o || 'format=auto'}/${encodeKey(key)}`;
  }

  // --- fetching -----------------------------------------------------------------------------

  /** Fetches an image: its body and headers; an error answer becomes an Error with its code. */
  async function fetchImage(url, accept) {
    const res = await fetch(url, { headers: { Accept: accept || IMAGE_ACCEPT }, cache: 'no-store' });
    const blob = await res.blob();
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`;
      try {
        const err = JSON.parse(await blob.text());
        if (err && err.code) message = `${res.status} ${err.code}: ${err.message}`;
      } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return {
      url,
      blob,
      bytes: blob.size,
      contentType: res.headers.get('content-type') || '',
      serverTiming: res.headers.get('server-timing') || '',
    };
  }

  /** Sets an <img> to a blob (releasing the one it showed) and resolves once it is decoded. */
  async function show(img, blob) {
    const old = img.src;
    img.src = URL.createObjectURL(blob);
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
    await img.decode();
  }

  /** The decoded size and luma of an image body (the bitmap is released at once). */
  async function decodeLuma(blob) {
    const bitmap = await createImageBitmap(blob);
    try {
      return { width: bitmap.width, height: bitmap.height, luma: luma(bitmap) };
    } finally {
      bitmap.close();
    }
  }

  // --- numbers ------------------------------------------------------------------------------

  function formatBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  }

  function savedText(bytes) {
    if (!state.originalBytes) return '–';
    const pct = (1 - bytes / state.originalBytes) * 100;
    return `${pct.toFixed(1)} %`;
  }

  /** `Server-Timing` as "fetch 1.2 ms, …" (`dur` fields), or "cache: memory" (`desc`). */
  function timingText(header) {
    if (!header) return 'not sent';
    return header.split(',').map((part) => {
      const [name, ...params] = part.trim().split(';');
      const trimmed = params.map((p) => p.trim());
      const dur = trimmed.find((p) => p.startsWith('dur='));
      const desc = trimmed.find((p) => p.startsWith('desc='));
      if (dur) return `${name} ${Number(dur.slice(4)).toFixed(1)} ms`;
      return desc ? `${name}: ${desc.slice(5).replace(/"/g, '')}` : name;
    }).join(', ');
  }

  // --- SSIM ---------------------------------------------------------------------------------

  /** Luma (BT.601) of a decoded image, from a canvas at its own size. */
  function luma(bitmap) {
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    // Transparent pixels over white, the same for both images.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const y = new Float32Array(canvas.width * canvas.height);
    for (let i = 0, j = 0; j < y.length; i += 4, j += 1) {
      y[j] = 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
    }
    return y;
  }

  /** Mean SSIM of two same-sized luma planes over 8×8 windows every 4 pixels (Wang et al.). */
  function ssim(a, b, width, height) {
    const C1 = (0.01 * 255) ** 2;
    const C2 = (0.03 * 255) ** 2;
    const win = Math.min(8, width, height);
    const step = win >= 8 ? 4 : 1;
    const n = win * win;
    let total = 0;
    let count = 0;
    for (let y0 = 0; y0 + win <= height; y0 += step) {
      for (let x0 = 0; x0 + win <= width; x0 += step) {
        let sa = 0; let sb = 0; let saa = 0; let sbb = 0; let sab = 0;
        for (let y = y0; y < y0 + win; y += 1) {
          const row = y * width;
          for (let x = x0; x < x0 + win; x += 1) {
            const va = a[row + x];
            const vb = b[row + x];
            sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb;
          }
        }
        const ma = sa / n;
        const mb = sb / n;
        const va = saa / n - ma * ma;
        const vb = sbb / n - mb * mb;
        const cov = sab / n - ma * mb;
        total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
        count += 1;
      }
    }
    return count ? total / count : NaN;
  }

  // --- rendering ----------------------------------------------------------------------------

  function setText(id, text) {
    $(id).textContent = text;
  }

  function showError(message) {
    const el = $('error');
    el.textContent = message;
    el.hidden = !message;
  }

  function setNotice(message) {
    const el = $('notice');
    el.textContent = message;
    el.hidden = !message;
  }

  /** A string made safe inside a double-quoted HTML attribute. */
  function attr(s) {
    return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  }

  function candidateWidths(width) {
    const widths = [0.5, 1, 1.5, 2].map((f) => Math.round(width * f)).filter((w) => w >= 16);
    return [...new Set(widths)];
  }

  /** srcset entries for `pairs` at several widths (height scaled with the width). */
  function srcset(pairs, width, format) {
    const height = pairs.find(([k]) => k === 'height');
    return candidateWidths(width).map((w) => {
      let p = withOption(pairs, 'width', String(w));
      if (height) p = withOption(p, 'height', String(Math.round((Number(height[1]) * w) / width)));
      if (format !== undefined) p = withOption(p, 'format', format);
      return `${attr(location.origin + queryUrl(state.key, p))} ${w}w`;
    }).join(',\n    ');
  }

  function snippets(pairs, result) {
    const w = result.width;
    const h = result.height;
    const sizes = `(max-width: ${w}px) 100vw, ${w}px`;
    const src = attr(location.origin + queryUrl(state.key, pairs));
    const img = `<img src="${src}"\n  srcset="${srcset(pairs, w)}"\n  sizes="${sizes}"\n`
      + `  width="${w}" height="${h}" alt="" loading="lazy" decoding="async">`;
    const source = (type, format) => `  <source type="image/${type}"\n    srcset="${srcset(pairs, w, format)}"\n    sizes="${sizes}">`;
    const jpeg = withOption(pairs, 'format', 'jpeg');
    const picture = ['<picture>', source('avif', 'avif'), source('webp', 'webp'),
      `  <img src="${attr(location.origin + queryUrl(state.key, jpeg))}"\n    srcset="${srcset(pairs, w, 'jpeg')}"\n`
      + `    sizes="${sizes}" width="${w}" height="${h}" alt="" loading="lazy" decoding="async">`,
      '</picture>'].join('\n');
    $('snippet-img').value = img;
    $('snippet-picture').value = picture;
  }

  function resetTable() {
    for (const row of $('formats').tBodies[0].rows) {
      for (const cell of row.cells) if (cell.tagName === 'TD') cell.textContent = '…';
    }
  }

  async function fillTable(pairs, generation) {
    const reference = withOption(withOption(pairs, 'quality', null), 'format', 'png');
    let ref = null;
    try {
      ref = await decodeLuma((await fetchImage(queryUrl(state.key, reference))).blob);
    } catch (_) { /* SSIM then shows n/a */ }
    for (const format of TABLE_FORMATS) {
      if (generation !== state.generation) return;
      const row = $('formats').querySelector(`tr[data-format="${format}"]`);
      const cell = (cls) => row.querySelector(`.${cls}`);
      try {
        const r = await fetchImage(queryUrl(state.key, withOption(pairs, 'format', format)));
        const d = await decodeLuma(r.blob);
        if (generation !== state.generation) return;
        cell('bytes').textContent = formatBytes(r.bytes);
        cell('bytes').dataset.bytes = String(r.bytes);
        cell('saved').textContent = savedText(r.bytes);
        cell('dims').textContent = `${d.width} × ${d.height}`;
        const same = ref && ref.width === d.width && ref.height === d.height;
        cell('ssim').textContent = same ? ssim(ref.luma, d.luma, d.width, d.height).toFixed(4) : 'n/a';
      } catch (e) {
        cell('bytes').textContent = e.message;
        for (const c of ['saved', 'dims', 'ssim']) cell(c).textContent = '–';
      }
    }
    if (generation === state.generation) $('formats').dataset.state = 'done';
  }

  async function loadOriginal() {
    setText('original-bytes', '…');
    const img = $('before');
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    img.removeAttribute('src');
    try {
      // The original untouched; an original the server will not show (SVG without
      // passthrough, originals signed or off) leaves the "before" side empty.
      const o = await fetchImage(queryUrl(state.key, []));
      state.originalBytes = o.bytes;
      await show(img, o.blob);
      setText('original-bytes', `${formatBytes(o.bytes)} (${img.naturalWidth} × ${img.naturalHeight})`);
    } catch (e) {
      setText('original-bytes', state.originalBytes ? formatBytes(state.originalBytes) : `unavailable (${e.message})`);
    }
  }

  async function update() {
    if (!state.key) return;
    const generation = ++state.generation;
    document.body.dataset.state = 'loading';
    $('formats').dataset.state = 'loading';
    showError('');
    resetTable();
    let pairs = chosenOptions();
    if (pairs.length === 0) pairs = [['format', 'auto']];
    $('url-query').value = `${location.origin}${queryUrl(state.key, pairs)}`;
    $('url-cdn').value = `${location.origin}${cdnUrl(state.key, pairs)}`;
    try {
      const r = await fetchImage(queryUrl(state.key, pairs));
      if (generation !== state.generation) return;
      const img = $('result');
      await show(img, r.blob);
      if (generation !== state.generation) return;
      r.width = img.naturalWidth;
      r.height = img.naturalHeight;
      const res = $('result-bytes');
      res.textContent = formatBytes(r.bytes);
      res.dataset.bytes = String(r.bytes);
      res.dataset.url = r.url;
      setText('saved', savedText(r.bytes));
      setText('dimensions', `${r.width} × ${r.height}`);
      setText('content-type', r.contentType);
      setText('server-timing', timingText(r.serverTiming));
      $('stage').style.aspectRatio = `${r.width} / ${r.height}`;
      snippets(pairs, r);
      document.body.dataset.state = 'ready';
    } catch (e) {
      if (generation !== state.generation) return;
      showError(`The server refused this request: ${e.message}`);
      document.body.dataset.state = 'error';
      return;
    }
    fillTable(pairs, generation);
  }

  let timer = 0;
  function scheduleUpdate() {
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  }

  async function selectKey(key, size) {
    state.key = key;
    state.originalBytes = size || 0;
    await loadOriginal();
    await update();
  }

  // --- listing and upload -------------------------------------------------------------------

  async function loadList(select) {
    const res = await fetch('?list', { cache: 'no-store' });
    if (!res.ok) throw new Error(`listing the originals: ${res.status}`);
    const list = await res.json();
    const sel = $('sample');
    sel.replaceChildren();
    for (const { key, size } of list.keys) {
      const opt = document.createElement('option');
      opt.value = key;
      opt.textContent = `${key} (${formatBytes(size)})`;
      opt.dataset.size = String(size);
      sel.append(opt);
    }
    const notes = [];
    if (list.truncated) notes.push(`Showing the first ${list.keys.length} originals.`);
    if (list.signing) notes.push('Signing is on: unsigned requests beyond the allowed widths are refused.');
    if (!list.keys.length) notes.push('No image originals found: upload one.');
    setNotice(notes.join(' '));
    $('upload-box').hidden = !list.upload;
    const preferred = select || (list.keys.find((k) => k.key === 'bird-20mp.jpg') || list.keys[0] || {}).key;
    if (preferred) {
      sel.value = preferred;
      const opt = sel.selectedOptions[0];
      await selectKey(preferred, opt ? Number(opt.dataset.size) : 0);
    } else {
      document.body.dataset.state = 'empty';
    }
  }

  async function upload() {
    const file = $('upload-file').files[0];
    const key = ($('upload-key').value.trim() || (file ? `uploads/${file.name}` : '')).replace(/^\/+/, '');
    const status = $('upload-status');
    if (!file) { status.textContent = 'Choose a file first.'; return; }
    status.textContent = 'Uploading…';
    // The token goes in this request's header only; the page keeps it nowhere else.
    const headers = { 'Content-Type': file.type || 'application/octet-stream' };
    const token = $('upload-token').value;
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      const res = await fetch(`/${encodeKey(key)}`, { method: 'PUT', headers, body: file });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(`${res.status} ${body.code || ''} ${body.message || ''}`.trim());
      status.textContent = `Uploaded ${body.key} (${body.width} × ${body.height} ${body.format}).`;
      await loadList(body.key);
    } catch (e) {
      status.textContent = `Upload failed: ${e.message}`;
    }
  }

  // --- wiring -------------------------------------------------------------------------------

  function setCompare() {
    const pct = Number($('compare').value);
    $('after-clip').style.clipPath = `inset(0 0 0 ${pct}%)`;
    $('divider').style.left = `${pct}%`;
  }

  function copy(id) {
    const el = $(id);
    el.select();
    const done = () => { el.dataset.copied = 'yes'; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(el.value).then(done, () => document.execCommand('copy') && done());
    } else if (document.execCommand('copy')) {
      done();
    }
  }

  function start() {
    for (const name of OPTIONS) $(name).addEventListener('input', scheduleUpdate);
    $('sample').addEventListener('change', () => {
      const opt = $('sample').selectedOptions[0];
      selectKey($('sample').value, opt ? Number(opt.dataset.size) : 0);
    });
    $('compare').addEventListener('input', setCompare);
    $('upload').addEventListener('click', upload);
    $('upload-file').addEventListener('change', () => {
      const file = $('upload-file').files[0];
      if (file && !$('upload-key').value) $('upload-key').value = `uploads/${file.name}`;
    });
    for (const button of document.querySelectorAll('button.copy')) {
      button.addEventListener('click', () => copy(button.dataset.copy));
    }
    setCompare();
    loadList().catch((e) => {
      showError(e.message);
      document.body.dataset.state = 'error';
    });
  }

  start();
})();
