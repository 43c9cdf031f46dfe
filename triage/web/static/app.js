// lookout volunteer UI: countdowns, queue refresh, notifications, lease
// renewal.
// No inline handlers; everything is wired here (the CSP forbids inline).
(function () {
  'use strict';

  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return (h > 0 ? h + ':' + pad(m) : m) + ':' + pad(r);
  }

  // skew is the server's clock (Redis's, as the page was rendered) less
  // the device's: a phone whose clock is minutes off still counts claim
  // targets down to the server's times.
  var skew = 0;

  // clockText writes a time as the server writes it ("12-07 17:13", with
  // seconds "12-07 17:13:05"), in the zone the server's times are in (the
  // page's data-zone), so a renewed lease's end or a list's last update
  // reads like the page's other times.
  function clockText(d, seconds) {
    var o = { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (seconds) o.second = '2-digit';
    var zone = document.body.getAttribute('data-zone');
    if (zone && zone !== 'Local') o.timeZone = zone;
    var parts;
    try {
      parts = new Intl.DateTimeFormat('en-US', o).formatToParts(d);
    } catch (e) { // a zone this browser does not know: its own
      delete o.timeZone;
      parts = new Intl.DateTimeFormat('en-US', o).formatToParts(d);
    }
    var p = {};
    parts.forEach(function (x) { p[x.type] = x.value; });
    return p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + (seconds ? ':' + p.second : '');
  }

  // Claim targets count down; past the target the cell says so in words.
  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll('.countdown').forEach(function (el) {
      var target = +el.getAttribute('data-target');
      if (!target) { el.textContent = ''; return; }
      var left = target - now;
      if (left <= 0) {
        el.textContent = el.getAttribute('data-overdue') + ' ' + fmt(left);
        el.classList.add('overdue');
      } else {
        el.textContent = fmt(left) + ' ' + el.getAttribute('data-left');
        el.classList.remove('overdue');
      }
    });
  }

  // The parts of a page marked data-refresh (the queue's rows, the
  // supervisors' lists) refresh every 10 s in place: the page keeps its
  // place, so the scroll position stays. A part whose HTML is unchanged is
  // left alone.
  function refreshParts() {
    document.querySelectorAll('[data-refresh]').forEach(function (part) {
      fetch(part.getAttribute('data-refresh'), { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (r) {
          if (r.status === 401) { refreshNotice(part, 'expired'); return null; }
          if (!r.ok) throw new Error(r.status);
          return r.text();
        })
        .then(function (html) {
          if (html === null) return;
          failures = 0;
          lastRefresh = new Date(Date.now() + skew); // by the server's clock, as the list's times
          refreshNotice(part, '');
          if (html === part.lastHTML) return;
          part.lastHTML = html;
          var y = window.scrollY;
          var tmp = document.createElement(part.tagName);
          tmp.innerHTML = html; // server-rendered by html/template: escaped
          part.replaceChildren.apply(part, Array.prototype.slice.call(tmp.childNodes));
          window.scrollTo(0, y);
          tick();
          showWaiting();
          checkAlerts();
        })
        .catch(function () {
          // Keep the old rows and try again; after two misses in a row
          // (20 s) say that the list may be out of date.
          if (++failures >= 2) refreshNotice(part, 'failed');
        });
    });
  }

  // A list that silently stops updating looks like a quiet night, so a
  // part that cannot refresh says so above it: the session ended (401:
  // log in again; refreshing stops), or the server cannot be reached (the
  // time of the last update). kind '' clears the notice.
  var failures = 0, lastRefresh = new Date(), refreshTimer;
  function refreshNotice(part, kind) {
    var note = document.getElementById('refresh-note');
    if (!kind) { if (note) note.hidden = true; return; }
    if (!note) {
      note = document.createElement('p');
      note.id = 'refresh-note';
      note.className = 'flash warn';
      note.setAttribute('role', 'alert');
      var anchor = part.tagName === 'TBODY' ? part.closest('table') : part;
      anchor.parentNode.insertBefore(note, anchor);
    }
    note.hidden = false;
    if (kind === 'expired') {
      clearInterval(refreshTimer);
      var a = document.createElement('a');
      a.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
      a.textContent = part.getAttribute('data-login');
      note.replaceChildren(document.createTextNode(part.getAttribute('data-expired') + ' '), a);
    } else {
      note.textContent = part.getAttribute('data-failed') + ' ' + clockText(lastRefresh, true);
    }
  }

  // The tab's title counts what waits on the page (the queue's cases; the
  // escalated and emergency cases for supervisors), so that a tab left in
  // the background, or a phone's tab list, shows a new one.
  var baseTitle = '';
  function showWaiting() {
    var n = document.querySelectorAll('[data-waiting]').length;
    document.title = (n > 0 ? '(' + n + ') ' : '') + baseTitle;
  }

  // Notifications. On a device where the user turned them on (the button
  // on the queue and the supervisors' page), a new case that needs someone
  // at once (an emergency; for supervisors an escalation too) arriving
  // while the page is open raises a system notification: a count, never
  // any text of a post (a locked phone shows it to whoever holds it).
  var alerted = null; // ids of the alerting rows at the last look
  function notifyOn() {
    return 'Notification' in window && Notification.permission === 'granted' &&
      localStorage.getItem('lookout-notify') === '1';
  }
  function checkAlerts() {
    var ids = Array.prototype.map.call(document.querySelectorAll('[data-alert]'), function (el) {
      return el.getAttribute('data-alert');
    });
    var fresh = alerted === null ? [] : ids.filter(function (id) { return alerted.indexOf(id) < 0; });
    alerted = ids;
    var btn = document.getElementById('notify');
    if (!fresh.length || !btn || !notifyOn()) return;
    notify(btn.getAttribute('data-title'), btn.getAttribute('data-body').replace('%d', ids.length), 'lookout-waiting');
  }
  // notify raises a system notification through the service worker
  // (phones' browsers show none from a page), or from the page.
  function notify(title, body, tag) {
    var opts = { body: body, tag: tag, renotify: true };
    var direct = function () { try { new Notification(title, opts); } catch (e) { /* not allowed here */ } };
    if (navigator.serviceWorker) {
      navigator.serviceWorker.getRegistration('/').then(function (reg) {
        if (reg) return reg.showNotification(title, opts);
        direct();
      }).catch(direct);
    } else {
      direct();
    }
  }
  function notifyButton() {
    var btn = document.getElementById('notify');
    if (!btn || !('Notification' in window)) return;
    var label = function () {
      btn.textContent = btn.getAttribute(notifyOn() ? 'data-turn-off' : 'data-turn-on');
      btn.setAttribute('aria-pressed', notifyOn() ? 'true' : 'false');
    };
    btn.hidden = false;
    label();
    btn.addEventListener('click', function () {
      if (notifyOn()) { localStorage.removeItem('lookout-notify'); label(); return; }
      Notification.requestPermission().then(function (p) {
        if (p === 'granted') {
          localStorage.setItem('lookout-notify', '1');
          if (navigator.serviceWorker) navigator.serviceWorker.register('/sw.js').catch(function () {});
        }
        label();
      });
    });
    if (notifyOn() && navigator.serviceWorker) navigator.serviceWorker.register('/sw.js').catch(function () {});
  }

  // Leases the page keeps: the case page's own (#lease) and, on My cases,
  // each held case's; every element marked data-lease is renewed every
  // minute. When a lease is lost, the page says so plainly: the case page
  // stops its forms, My cases marks the row. Only while someone is there:
  // after data-idle ms with no touch, key or scroll, renewals stop and the
  // page asks (#idle); unanswered, the leases run out by themselves and
  // the cases go back where they waited. The answer renews at once.
  var lastTouch = Date.now();
  ['pointerdown', 'keydown', 'scroll', 'touchstart'].forEach(function (ev) {
    document.addEventListener(ev, function () { lastTouch = Date.now(); }, { passive: true, capture: true });
  });
  function renewLeases() {
    var els = document.querySelectorAll('[data-lease]');
    if (!els.length) return;
    var ask = document.getElementById('idle');
    var idleMs = +els[0].getAttribute('data-idle');
    if (ask && idleMs > 0 && Date.now() - lastTouch >= idleMs) {
      if (ask.hidden) {
        ask.querySelector('.deadline').textContent = els[0].querySelector('.deadline').textContent;
        ask.hidden = false;
        document.getElementById('idle-keep').focus({ preventScroll: true }); // a scroll would count as a touch
      }
      return;
    }
    if (ask) ask.hidden = true;
    els.forEach(renewLease);
  }
  // announce shows a hidden notice once and flashes the title; in a
  // background tab, on a device with notifications on, a notification
  // says the same (a level at most, never text).
  function announce(el, level, tag) {
    if (!el.hidden) return;
    el.hidden = false;
    document.title = '(!) ' + baseTitle;
    if (document.hidden && notifyOn()) {
      notify(el.getAttribute('data-note-title'), el.getAttribute('data-note-body').replace('%d', level), tag);
    }
  }
  function renewLease(el) {
    var onCasePage = el.id === 'lease';
    fetch('/api/v1/cases/' + encodeURIComponent(el.getAttribute('data-case')) + '/renew', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: el.getAttribute('data-token') })
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; });
    }).then(function (res) {
      if (res.ok) {
        // The lease's end by the server's clock, as the page's other
        // times (the server wrote the first one).
        var span = el.querySelector('.deadline');
        if (span) span.textContent = clockText(new Date(Date.parse(res.body.deadline)));
        // The person posted again since the page was loaded: say so, with
        // the level now (the text is on a reload).
        var news = onCasePage ? document.getElementById('case-news') : el.querySelector('.news');
        if (news && res.body.posts > +el.getAttribute('data-posts')) {
          news.querySelector('.lvl').textContent = String(res.body.level);
          announce(news, String(res.body.level), 'lookout-case-news');
        }
        // Someone else added a note (a volunteer who held the case before,
        // a supervisor): say so; the note is on a reload.
        if (onCasePage && res.body.notes > +el.getAttribute('data-notes')) {
          announce(document.getElementById('case-note-news'), '', 'lookout-case-note');
        }
        return;
      }
      if (res.status === 409 || res.status === 401 || res.status === 404) {
        el.removeAttribute('data-lease'); // renewed no more
        if (!onCasePage) {
          el.querySelector('.lost').hidden = false;
          return;
        }
        var lost = document.getElementById('lease-lost');
        // Say why in the page's language: a 409 means the lease expired, was
        // released or went to someone else; other codes are shown as is.
        lost.textContent = el.getAttribute('data-lost') + (res.status === 409 ? el.getAttribute('data-stale') : String(res.status));
        lost.hidden = false;
        document.getElementById('lease-lost-next').hidden = false;
        el.hidden = true;
        document.getElementById('idle').hidden = true;
        // The holder's forms (.held: resolve, escalate, release) stop; a
        // note can still be added, as one who held the case.
        document.querySelectorAll('.held button, .held select, .held input').forEach(function (b) { b.disabled = true; });
        document.querySelectorAll('.held textarea').forEach(function (b) { b.readOnly = true; });
      }
    }).catch(function () { /* network blip: try again next minute */ });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var rendered = +document.body.getAttribute('data-now');
    if (rendered) {
      skew = rendered - Date.now();
      lastRefresh = new Date(rendered);
    }
    tick();
    setInterval(tick, 1000);
    baseTitle = document.title;
    showWaiting();
    checkAlerts();
    notifyButton();
    if (document.querySelector('[data-refresh]')) refreshTimer = setInterval(refreshParts, 10000);
    if (document.querySelector('[data-lease]')) {
      renewLeases();
      setInterval(renewLeases, 60000);
      document.getElementById('idle-keep').addEventListener('click', function () {
        lastTouch = Date.now();
        renewLeases();
      });
      // Back from another app (a phone's message to the person): renew at
      // once, not at the next minute, and learn at once if it was lost.
      document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'visible') renewLeases();
      });
    }
  });
})();
