/* Territoria — citizen chat (page and widget panel). Vanilla JS, no dependency.
   POST /ui/api/ask answers with Server-Sent Events, read with fetch + ReadableStream:
   sources, token (checked text, to append), answer (final, with citations and answer_id) or error. */
(function () {
  'use strict';
  var root = document.getElementById('chat');
  if (!root) return;
  var tenant = root.dataset.tenant, channel = root.dataset.channel || 'page';
  var fil = document.getElementById('fil'), form = document.getElementById('formulaire');
  var input = document.getElementById('question'), send = document.getElementById('envoyer');
  var status = document.getElementById('etat'), inputError = document.getElementById('question-erreur');
  var helpTpl = document.getElementById('modele-aide-abstention');
  var convKey = 'territoria-conversation-' + tenant + '-' + channel;
  var busy = false, counter = 0;

  function newConversationId() {
    var a = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return 'c-' + Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  function conversationId() {
    var id = null;
    try { id = sessionStorage.getItem(convKey); } catch (e) { /* storage disabled */ }
    if (!id) { id = newConversationId(); try { sessionStorage.setItem(convKey, id); } catch (e) { /* ignore */ } }
    return id;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function announce(text) { status.textContent = ''; window.setTimeout(function () { status.textContent = text; }, 50); }
  function secondsFr(ms) { return (ms / 1000).toFixed(1).replace('.', ','); }

  /* answer text with its [n] markers turned into links to the numbered sources */
  function renderText(container, text, citations, prefix) {
    container.textContent = '';
    var known = {};
    (citations || []).forEach(function (c) { known[c.n] = c; });
    var re = /\[(\d{1,2})\]/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      var c = known[m[1]];
      if (!c) continue;
      container.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el('a', 'appel', '[' + c.n + ']');
      a.href = '#' + prefix + '-' + c.n;
      a.setAttribute('aria-label', 'Source ' + c.n + ' : ' + c.title);
      a.addEventListener('click', openSource);
      container.appendChild(a);
      last = m.index + m[0].length;
    }
    container.appendChild(document.createTextNode(text.slice(last)));
  }
  function openSource(ev) {
    var target = document.getElementById(this.getAttribute('href').slice(1));
    if (!target) return;
    ev.preventDefault();
    var d = target.querySelector('details');
    if (d) d.open = true;
    var s = target.querySelector('summary') || target;
    s.focus();
    s.scrollIntoView({ block: 'nearest' });
  }

  function sourceLink(c) {
    var p = el('p', 'source-liens'), a = el('a');
    if (c.url) {
      a.href = c.url; a.target = '_blank'; a.rel = 'noopener';
      var host = '';
      try { host = new URL(c.url).hostname.replace(/^www\./, ''); } catch (e) { host = ''; }
      a.textContent = 'Consulter la source' + (host ? ' sur ' + host : '');
      a.appendChild(el('span', 'sr-only', ' (nouvelle fenêtre)'));
    } else {
      a.href = '/sources?doc=' + encodeURIComponent(c.doc_id) + '&tenant=' + encodeURIComponent(tenant);
      a.textContent = 'Voir le document source';
      if (channel === 'widget') { a.target = '_blank'; a.rel = 'noopener'; a.appendChild(el('span', 'sr-only', ' (nouvelle fenêtre)')); }
    }
    p.appendChild(a);
    return p;
  }

  function renderSources(box, citations, prefix) {
    var wrap = el('div', 'sources');
    var h = el('h3', 'sources-titre', citations.length > 1 ? 'Sources' : 'Source');
    h.id = prefix + '-titre';
    wrap.appendChild(h);
    var ol = el('ol', 'sources-liste');
    ol.setAttribute('aria-labelledby', h.id);
    citations.forEach(function (c) {
      var li = el('li'); li.id = prefix + '-' + c.n;
      var d = el('details'), s = el('summary');
      s.textContent = c.n + '. ' + c.title + (c.page ? ', page ' + c.page : '') + (c.section && c.section !== c.title ? ' — ' + c.section : '');
      d.appendChild(s);
      if (c.quote) {
        var q = el('blockquote', 'citation', '« ' + c.quote + ' »');
        d.appendChild(q);
      }
      d.appendChild(sourceLink(c));
      li.appendChild(d); ol.appendChild(li);
    });
    wrap.appendChild(ol);
    box.appendChild(wrap);
  }

  function postFeedback(answerId, body) {
    body.answer_id = answerId;
    return fetch('/ui/api/feedback', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Territoria-Tenant': tenant },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error ? j.error.message : 'Erreur'); return j; }); });
  }

  function renderFeedback(box, answerId, prefix) {
    if (!answerId) return;
    var wrap = el('div', 'avis');
    var fs = el('fieldset'), lg = el('legend', null, 'Cette réponse vous a-t-elle été utile ?');
    fs.appendChild(lg);
    var btns = el('div', 'avis-boutons');
    var yes = el('button', 'bouton bouton-secondaire bouton-petit', 'Oui, utile');
    var no = el('button', 'bouton bouton-secondaire bouton-petit', 'Non, pas utile');
    [yes, no].forEach(function (b) { b.type = 'button'; b.setAttribute('aria-pressed', 'false'); btns.appendChild(b); });
    fs.appendChild(btns);
    wrap.appendChild(fs);
    var more = el('div', 'avis-commentaire'); more.hidden = true;
    var lab = el('label', null, 'Votre commentaire (facultatif)'); lab.htmlFor = prefix + '-commentaire';
    var hint = el('p', 'formulaire-aide', "Qu'est-ce qui manquait ou était inexact ? N'indiquez pas de données personnelles.");
    hint.id = prefix + '-commentaire-aide';
    var ta = el('textarea'); ta.id = prefix + '-commentaire'; ta.rows = 3; ta.maxLength = 2000;
    ta.setAttribute('aria-describedby', hint.id);
    var sendC = el('button', 'bouton bouton-secondaire bouton-petit', 'Envoyer le commentaire'); sendC.type = 'button';
    more.appendChild(lab); more.appendChild(hint); more.appendChild(ta); more.appendChild(sendC);
    wrap.appendChild(more);
    var st = el('p', 'avis-etat'); st.setAttribute('role', 'status');
    wrap.appendChild(st);
    function say(text, failed) { st.textContent = text; st.classList.toggle('avis-etat-erreur', !!failed); }
    function rate(value, btn, other) {
      postFeedback(answerId, { rating: value }).then(function () {
        btn.setAttribute('aria-pressed', 'true'); other.setAttribute('aria-pressed', 'false');
        say('Merci, votre avis a été enregistré.' + (value === 'pas_utile' ? ' Vous pouvez préciser ce qui n\'allait pas ci-dessous.' : ' Vous pouvez ajouter un commentaire.'));
        more.hidden = false;
      }).catch(function (e) { say("L'avis n'a pas pu être enregistré : " + e.message, true); });
    }
    yes.addEventListener('click', function () { rate('utile', yes, no); });
    no.addEventListener('click', function () { rate('pas_utile', no, yes); });
    sendC.addEventListener('click', function () {
      var text = ta.value.trim();
      if (!text) { say('Le commentaire est vide.', true); ta.focus(); return; }
      postFeedback(answerId, { comment: text }).then(function () {
        say('Merci, votre commentaire a été enregistré.');
        sendC.disabled = true; ta.readOnly = true;
      }).catch(function (e) { say("Le commentaire n'a pas pu être enregistré : " + e.message, true); });
    });
    box.appendChild(wrap);
  }

  function finishAnswer(box, textEl, data, prefix) {
    box.classList.remove('msg-attente');
    var author = box.querySelector('.msg-auteur');
    if (data.abstained) {
      box.classList.add('msg-abstention');
      var h = el('h3', 'msg-titre-abstention', "Je n'ai pas trouvé de réponse fiable");
      box.insertBefore(h, textEl);
      textEl.textContent = data.answer;
      if (helpTpl) box.appendChild(helpTpl.content.cloneNode(true));
    } else {
      renderText(textEl, data.answer, data.citations, prefix);
      if (data.mode === 'extractive') author.textContent = 'Assistant (IA) — extrait d\'un document';
    }
    (data.warnings || []).forEach(function (w) { box.appendChild(el('p', 'avertissement', w)); });
    if (data.citations && data.citations.length && !data.abstained) renderSources(box, data.citations, prefix);
    var lat = data.latency_ms || {};
    if (lat.total) box.appendChild(el('p', 'meta', 'Réponse rédigée automatiquement en ' + secondsFr(lat.total) + ' s.'));
    renderFeedback(box, data.answer_id, prefix);
  }

  function showError(box, textEl, message, hint) {
    box.classList.remove('msg-attente');
    box.classList.add('msg-erreur');
    textEl.textContent = message + (hint ? ' ' + hint : '');
  }

  function setBusy(b) {
    busy = b;
    send.disabled = b;
    fil.setAttribute('aria-busy', b ? 'true' : 'false');
  }

  function ask(question) {
    if (busy) return;
    counter += 1;
    var prefix = 'r' + Date.now().toString(36) + counter;
    var q = el('li', 'msg msg-usager');
    q.appendChild(el('p', 'msg-auteur', 'Vous'));
    q.appendChild(el('p', 'msg-texte', question));
    var box = el('li', 'msg msg-assistant msg-attente');
    box.appendChild(el('p', 'msg-auteur', 'Assistant (IA)'));
    var textEl = el('p', 'msg-texte');
    box.appendChild(textEl);
    setBusy(true);
    fil.appendChild(q);
    fil.appendChild(box);
    announce("Question envoyée. L'assistant rédige sa réponse…");
    box.scrollIntoView({ block: 'nearest' });
    var text = '';
    fetch('/ui/api/ask', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream', 'X-Territoria-Tenant': tenant },
      body: JSON.stringify({ question: question, conversation_id: conversationId(), channel: channel })
    }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          var e = j.error || {};
          showError(box, textEl, e.message || 'Le service est momentanément indisponible.', e.hint);
        });
      }
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = '', done = false;
      function handle(block) {
        var ev = 'message', data = '';
        block.split('\n').forEach(function (line) {
          if (line.indexOf('event: ') === 0) ev = line.slice(7);
          else if (line.indexOf('data: ') === 0) data += line.slice(6);
        });
        if (!data) return;
        var d; try { d = JSON.parse(data); } catch (e) { return; }
        if (ev === 'token') { text += d.text; textEl.textContent = text; }
        else if (ev === 'answer') { done = true; finishAnswer(box, textEl, d, prefix); }
        else if (ev === 'error') { done = true; showError(box, textEl, d.message, d.hint); }
      }
      function pump() {
        return reader.read().then(function (res) {
          if (res.value) buf += dec.decode(res.value, { stream: true });
          var i;
          while ((i = buf.indexOf('\n\n')) >= 0) { handle(buf.slice(0, i)); buf = buf.slice(i + 2); }
          if (res.done) {
            if (buf.trim()) handle(buf);
            if (!done) showError(box, textEl, 'La réponse a été interrompue.', 'Réessayez dans un instant.');
            return;
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      showError(box, textEl, 'Le service est momentanément indisponible.', 'Vérifiez votre connexion et réessayez dans un instant.');
    }).then(function () {
      setBusy(false);
      var failed = box.classList.contains('msg-erreur');
      announce(failed ? 'La réponse n\'a pas pu être obtenue.' : (box.classList.contains('msg-abstention')
        ? "Réponse reçue : l'assistant n'a pas trouvé de réponse fiable." : 'Réponse reçue.'));
      box.scrollIntoView({ block: 'nearest' });
    });
  }

  function submit() {
    var question = input.value.trim();
    if (!question) {
      inputError.textContent = 'Écrivez votre question avant de l\'envoyer.';
      inputError.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    inputError.hidden = true; input.removeAttribute('aria-invalid');
    if (busy) { announce('Patientez : une réponse est en cours de rédaction.'); return; }
    input.value = '';
    ask(question);
    input.focus();
  }
  form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  Array.prototype.forEach.call(document.querySelectorAll('.bouton-exemple'), function (b) {
    b.addEventListener('click', function () { input.value = b.dataset.question; submit(); });
  });
  if (channel === 'widget' && window.parent !== window) {
    /* inside the widget's frame: the host page asks for the focus, Escape closes the panel */
    window.addEventListener('message', function (e) {
      if (e.source === window.parent && e.data && e.data.type === 'territoria-focus') input.focus();
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') window.parent.postMessage({ type: 'territoria-close' }, '*');
    });
  }
  document.getElementById('nouvelle').addEventListener('click', function () {
    if (busy) { announce('Patientez : une réponse est en cours de rédaction.'); return; }
    try { sessionStorage.setItem(convKey, newConversationId()); } catch (e) { /* ignore */ }
    Array.prototype.slice.call(fil.children, 1).forEach(function (li) { fil.removeChild(li); });
    announce('Nouvelle conversation commencée.');
    input.focus();
  });
})();
