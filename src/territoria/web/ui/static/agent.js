/* Territoria — agent space: upload (drag and drop, several files) with progress, delete confirmation,
   copy of the widget snippet. Each file is sent as its own ingestion job, so that each has its own status. */
(function () {
  'use strict';
  var root = document.getElementById('agent');
  if (!root) return;
  var csrf = root.dataset.csrf;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  /* ---- upload ---- */
  var zone = document.getElementById('zone-depot'), input = document.getElementById('fichiers');
  var list = document.getElementById('envois'), end = document.getElementById('envois-fin');
  var pending = 0;

  function sizeFr(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1).replace('.', ',') + ' Mo';
    return Math.max(1, Math.round(n / 1024)) + ' ko';
  }

  function row(file) {
    var li = el('li', 'envoi');
    var name = el('span', 'envoi-nom', file.name);
    var state = el('span', 'envoi-etat', 'En attente…');
    var bar = el('progress'); bar.max = 100; bar.value = 0;
    bar.setAttribute('aria-label', 'Progression de ' + file.name);
    li.appendChild(name); li.appendChild(state); li.appendChild(bar);
    list.appendChild(li);
    return { li: li, state: state, bar: bar };
  }

  function finished(r, ok, text) {
    r.li.classList.add(ok ? 'envoi-ok' : 'envoi-echec');
    r.state.textContent = text;
    r.bar.value = 100;
    if (!ok) r.bar.hidden = true;
    pending -= 1;
    if (pending === 0 && end) end.hidden = false;
  }

  function poll(r, url, name) {
    fetch(url, { headers: { 'Accept': 'application/json' }, credentials: 'same-origin' }).then(function (resp) {
      return resp.json().then(function (j) { return { ok: resp.ok, j: j }; });
    }).then(function (res) {
      var j = res.j;
      if (!res.ok) { finished(r, false, 'Échec : ' + ((j.error && j.error.message) || 'état inconnu.')); return; }
      if (j.status === 'done') {
        var fails = j.failed || [];
        if (fails.length) { finished(r, false, 'Échec : ' + fails.map(function (f) { return f.reason; }).join(' ; ')); return; }
        var s = j.summary || {};
        var text = s.unchanged && !s.ingested ? 'Déjà indexé, inchangé.' : 'Indexé' + (s.chunks ? ' (' + s.chunks + ' passages).' : '.');
        finished(r, true, text);
      } else if (j.status === 'failed') {
        var reason = (j.failed && j.failed.length) ? j.failed.map(function (f) { return f.reason; }).join(' ; ') : (j.error || j.message);
        finished(r, false, 'Échec : ' + reason);
      } else {
        r.state.textContent = j.status === 'queued' ? 'En file d\'attente…' : (j.message || 'Indexation en cours…');
        r.bar.removeAttribute('value'); /* indeterminate while the server works */
        window.setTimeout(function () { poll(r, url, name); }, 700);
      }
    }).catch(function () {
      window.setTimeout(function () { poll(r, url, name); }, 2000);
    });
  }

  function upload(file) {
    var r = row(file);
    pending += 1;
    if (end) end.hidden = true;
    var fd = new FormData();
    fd.append('files', file, file.name);
    var vis = document.querySelector('input[name="visibilite"]:checked');
    fd.append('visibility', vis ? vis.value : 'public');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/espace-agent/api/televersement');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable) {
        var p = Math.round(e.loaded / e.total * 100);
        r.bar.value = p;
        r.state.textContent = 'Envoi : ' + p + ' % (' + sizeFr(file.size) + ')';
      }
    });
    xhr.addEventListener('load', function () {
      var j = {};
      try { j = JSON.parse(xhr.responseText); } catch (e) { j = {}; }
      if (xhr.status >= 200 && xhr.status < 300 && j.status_url) {
        r.state.textContent = 'Envoyé, indexation en cours…';
        poll(r, j.status_url, file.name);
      } else {
        var e = j.error || {};
        finished(r, false, 'Échec : ' + (e.message || ('erreur ' + xhr.status + '.')) + (e.hint ? ' ' + e.hint : ''));
      }
    });
    xhr.addEventListener('error', function () { finished(r, false, "Échec : le serveur n'a pas pu être joint."); });
    xhr.send(fd);
  }

  function uploadAll(files) {
    Array.prototype.forEach.call(files, upload);
  }

  if (zone && input) {
    input.addEventListener('change', function () { uploadAll(input.files); input.value = ''; });
    ['dragenter', 'dragover'].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; zone.classList.add('survol'); });
    });
    ['dragleave', 'dragend'].forEach(function (t) {
      zone.addEventListener(t, function (e) { if (!zone.contains(e.relatedTarget)) zone.classList.remove('survol'); });
    });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      zone.classList.remove('survol');
      if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) uploadAll(e.dataTransfer.files);
    });
    /* a file dropped outside the zone must not replace the page */
    window.addEventListener('dragover', function (e) { e.preventDefault(); });
    window.addEventListener('drop', function (e) { e.preventDefault(); });
  }

  /* ---- delete confirmation ---- */
  Array.prototype.forEach.call(document.querySelectorAll('.form-supprimer'), function (f) {
    f.addEventListener('submit', function (e) {
      var msg = f.dataset.confirmation || ('Supprimer le document « ' + f.dataset.titre + ' » ? Il ne sera plus utilisé par l\'assistant.');
      if (!window.confirm(msg)) e.preventDefault();
    });
  });

  /* ---- copy buttons ---- */
  Array.prototype.forEach.call(document.querySelectorAll('[data-copier]'), function (b) {
    b.addEventListener('click', function () {
      var code = document.getElementById(b.dataset.copier), st = document.getElementById('copie-etat');
      var text = code ? code.textContent : '';
      var ok = function () { if (st) st.textContent = 'Copié dans le presse-papiers.'; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(ok, function () { if (st) st.textContent = 'Copie impossible : sélectionnez le code et copiez-le.'; });
      } else if (st) { st.textContent = 'Copie impossible : sélectionnez le code et copiez-le.'; }
    });
  });
})();
