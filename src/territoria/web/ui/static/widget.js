/* Territoria — embeddable widget. A commune pastes one line into its site:
     <script src="(adresse du serveur Territoria)/widget.js?tenant=NOM" defer></script>
   It adds a button (bubble) that opens a panel holding the chat (an iframe served by Territoria, so the
   host page's styles and scripts cannot interfere). Styles live in a shadow root. Keyboard: the button
   opens and closes the panel, Escape closes it and gives the focus back to the button. */
(function (cfg) {
  'use strict';
  if (window.__territoriaWidget) return;
  window.__territoriaWidget = true;
  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src, window.location.href).origin : window.location.origin;

  function start() {
    var host = document.createElement('div');
    host.id = 'territoria-widget';
    host.style.setProperty('--t-primaire', cfg.color || '#000091');
    var shadow = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = origin + cfg.css;
    shadow.appendChild(link);

    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'bulle';
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', 'territoria-panneau');
    button.hidden = true;
    button.innerHTML = '<svg aria-hidden="true" focusable="false" width="22" height="22" viewBox="0 0 24 24">' +
      '<path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2Zm1 2v12.2L7.3 16H20V5H5Zm3 4h8v2H8V9Z"/></svg>';
    var label = document.createElement('span');
    label.textContent = 'Une question ?';
    button.appendChild(label);
    var sr = document.createElement('span');
    sr.className = 'sr-only';
    sr.textContent = ' Assistant numérique de ' + cfg.name + ' (intelligence artificielle)';
    button.appendChild(sr);

    var panel = document.createElement('section');
    panel.id = 'territoria-panneau';
    panel.className = 'panneau';
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-modal', 'false');
    panel.setAttribute('aria-labelledby', 'territoria-titre');
    panel.hidden = true;
    var head = document.createElement('div');
    head.className = 'panneau-entete';
    var title = document.createElement('h2');
    title.id = 'territoria-titre';
    title.className = 'panneau-titre';
    title.textContent = 'Assistant numérique — ' + cfg.name;
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'fermer';
    close.textContent = 'Fermer';
    var closeSr = document.createElement('span');
    closeSr.className = 'sr-only';
    closeSr.textContent = " l'assistant";
    close.appendChild(closeSr);
    head.appendChild(title);
    head.appendChild(close);
    panel.appendChild(head);
    var frame = document.createElement('iframe');
    frame.title = 'Discussion avec l\'assistant numérique de ' + cfg.name;
    panel.appendChild(frame);
    shadow.appendChild(button);
    shadow.appendChild(panel);
    document.body.appendChild(host);
    link.addEventListener('load', function () { button.hidden = false; });
    link.addEventListener('error', function () { button.hidden = false; });

    function focusChat() {
      try { frame.contentWindow.postMessage({ type: 'territoria-focus' }, origin); } catch (e) { /* not loaded yet */ }
    }
    function open() {
      if (!frame.src) {
        frame.src = origin + '/widget/panneau?tenant=' + encodeURIComponent(cfg.tenant);
        frame.addEventListener('load', function () { frame.focus(); focusChat(); }, { once: true });
      }
      panel.hidden = false;
      button.setAttribute('aria-expanded', 'true');
      host.classList.add('ouvert');
      button.classList.add('ouverte');
      label.textContent = 'Fermer l\'assistant';
      frame.focus();
      focusChat();
    }
    function shut() {
      panel.hidden = true;
      button.setAttribute('aria-expanded', 'false');
      button.classList.remove('ouverte');
      label.textContent = 'Une question ?';
      button.focus();
    }
    button.addEventListener('click', function () { if (panel.hidden) open(); else shut(); });
    close.addEventListener('click', shut);
    panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.preventDefault(); shut(); } });
    window.addEventListener('message', function (e) {
      if (e.origin !== origin || !e.data || e.source !== frame.contentWindow) return;
      if (e.data.type === 'territoria-close' && !panel.hidden) shut();
    });
    window.TerritoriaWidget = { open: open, close: shut };
  }
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})(__TERRITORIA_CONFIG__);
