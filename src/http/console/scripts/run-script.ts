/**
 * Client script of a run page while the run is not completed: follows the run's server-sent events and
 * updates the badges, progress bar, ETA, counts and failures in place (textContent only), then stops.
 */
export const runScript = `
(function () {
  'use strict';
  var root = document.getElementById('run');
  if (!root || root.dataset.live !== 'true' || !window.EventSource) return;
  var tones = { queued: 'neutral', running: 'info', completed: 'neutral', pending: 'neutral', succeeded: 'ok',
    partially_succeeded: 'warn', failed: 'danger', blocked: 'danger' };
  function setBadge(id, value) {
    var badge = document.getElementById(id);
    badge.textContent = value.replace(/_/g, ' ');
    badge.className = 'badge ' + (tones[value] || 'neutral');
  }
  function describeEta(seconds) {
    if (seconds === null) return 'estimating…';
    if (seconds < 60) return 'about ' + seconds + ' s remaining';
    return 'about ' + Math.round(seconds / 60) + ' min remaining';
  }
  function setTime(id, at) {
    if (!at) return;
    var time = document.createElement('time');
    time.dateTime = at;
    time.textContent = at.replace('T', ' ').slice(0, 19) + ' UTC';
    document.getElementById(id).replaceChildren(time);
  }
  function cell(text, code, label) {
    var td = document.createElement('td');
    td.setAttribute('data-label', label);
    if (code) { var c = document.createElement('code'); c.textContent = text; td.append(c); } else td.textContent = text;
    return td;
  }
  function applyFailures(failures) {
    var rows = document.getElementById('run-failure-rows');
    // Appended one by one: spreading a very long list into one call would exceed the argument limit.
    rows.replaceChildren();
    failures.forEach(function (failure) {
      var tr = document.createElement('tr');
      tr.append(cell(failure.tenant, false, 'Tenant'), cell(failure.reasonCode, true, 'Reason code'), cell(failure.message, false, 'Message'));
      rows.append(tr);
    });
    document.getElementById('run-failures').hidden = failures.length === 0;
    document.getElementById('run-no-failures').hidden = failures.length > 0;
  }
  function apply(progress) {
    setBadge('run-status', progress.status);
    setBadge('run-outcome', progress.outcome);
    var bar = document.getElementById('run-progress');
    bar.max = Math.max(progress.targeted, 1);
    bar.value = progress.done;
    bar.textContent = progress.done + ' of ' + progress.targeted;
    document.querySelector('[data-progress=done]').textContent = String(progress.done);
    document.querySelector('[data-progress=targeted]').textContent = String(progress.targeted);
    document.querySelector('[data-progress=eta]').textContent = describeEta(progress.etaSeconds);
    document.querySelectorAll('[data-count]').forEach(function (dd) {
      var value = progress.summaryCounts[dd.dataset.count];
      dd.textContent = String(value === undefined ? 0 : value);
    });
    if (progress.failures) applyFailures(progress.failures);
    setTime('run-started-at', progress.startedAt);
    setTime('run-completed-at', progress.completedAt);
    if (progress.status === 'completed') document.getElementById('run-progress-section').hidden = true;
  }
  var source = new EventSource(root.dataset.streamUrl);
  source.addEventListener('progress', function (event) { apply(JSON.parse(event.data)); });
  source.addEventListener('failures', function (event) { applyFailures(JSON.parse(event.data)); });
  source.addEventListener('completed', function (event) {
    apply(JSON.parse(event.data));
    source.close();
    root.dataset.live = 'false';
  });
  function stopped() {
    source.close();
    document.getElementById('run-live-stopped').hidden = false;
  }
  // The server ends the stream when the session or the capability is gone; EventSource does not retry
  // an answer other than 200 either. Say so instead of showing a stale page as live.
  source.addEventListener('ended', stopped);
  source.addEventListener('error', function () {
    if (source.readyState === EventSource.CLOSED && root.dataset.live !== 'false') stopped();
  });
})();
`
