/**
 * Client script of a run page while the run is not completed, or completed with its verification still to
 * come (SPEC §11; then only the verification and the timeline change): follows the run's server-sent events, appends
 * the run's new events to the timeline (SPEC §12; the structure of pages/run-timeline.tsx), and updates the badges, progress bar, ETA, counts, limits, the pause and cancel notices, the canary's state
 * and notes, the controls the state admits and the failures in place (textContent only), then stops once
 * the run completes and, when one follows, its verification is shown. A paused
 * run keeps streaming: it is not over, and so does one awaiting approval (SPEC §10); `rejected` is a final outcome.
 */
export const runScript = `
(function () {
  'use strict';
  var root = document.getElementById('run');
  if (!root || !window.EventSource) return;
  // 'verifying': the run completed before the page was rendered, and only its verification is still to come.
  var awaitingVerificationOnly = root.dataset.live === 'verifying';
  if (root.dataset.live !== 'true' && !awaitingVerificationOnly) return;
  var tones = JSON.parse(root.dataset.badgeTones || '{}');
  function setBadge(id, value) {
    var badge = document.getElementById(id);
    badge.textContent = value.replace(/_/g, ' ');
    badge.className = 'badge ' + (tones[value] || 'neutral');
  }
  function describeEta(seconds, status) {
    if (status === 'paused') return 'paused: no tenant starts until the run is resumed';
    if (status === 'awaiting_approval') return 'awaiting approval by a second operator: no tenant starts until then';
    if (seconds === null) return 'estimating…';
    if (seconds < 60) return 'about ' + seconds + ' s remaining';
    return 'about ' + Math.round(seconds / 60) + ' min remaining';
  }
  function timeOf(at) {
    var time = document.createElement('time');
    time.dateTime = at;
    time.textContent = at.replace('T', ' ').slice(0, 19) + ' UTC';
    return time;
  }
  function setTime(id, at) {
    if (!at) return;
    document.getElementById(id).replaceChildren(timeOf(at));
  }
  function setNote(id, note) {
    var box = document.getElementById(id);
    if (!box) return;
    box.hidden = !note;
    if (!note) return;
    box.querySelector('[data-note=code]').textContent = note.reasonCode;
    box.querySelector('[data-note=text]').textContent = note.reasonText;
    box.querySelector('[data-note=by]').textContent = note.by;
    box.querySelector('[data-note=at]').replaceChildren(timeOf(note.at));
  }
  function setControls(actions) {
    var section = document.getElementById('run-controls');
    if (!section) return;
    var any = false;
    section.querySelectorAll('[data-control]').forEach(function (control) {
      var shown = actions.indexOf(control.dataset.control) >= 0;
      control.hidden = !shown;
      any = any || shown;
    });
    section.hidden = !any;
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
    document.querySelector('[data-progress=eta]').textContent = describeEta(progress.etaSeconds, progress.status);
    document.getElementById('run-plan').textContent = progress.plan;
    document.querySelectorAll('[data-count]').forEach(function (dd) {
      var value = progress.summaryCounts[dd.dataset.count];
      dd.textContent = String(value === undefined ? 0 : value);
    });
    document.querySelectorAll('[data-tenant-count]').forEach(function (dd) {
      var value = progress.tenantCounts[dd.dataset.tenantCount];
      dd.textContent = String(value === undefined ? 0 : value);
    });
    var concurrency = document.querySelector('[data-limit=maxConcurrency]');
    if (concurrency) concurrency.textContent = String(progress.limits.maxConcurrency);
    var failuresLimit = document.querySelector('[data-limit=maxFailures]');
    if (failuresLimit) {
      failuresLimit.textContent = progress.limits.maxFailures === null ? 'no failure limit' : 'pauses after ' + progress.limits.maxFailures + ' failed';
    }
    setNote('run-pause', progress.pause);
    // SPEC §11: the canary's state, and the note of the service's own canary pause while it lasts.
    if (progress.canary && document.getElementById('run-canary-state')) setBadge('run-canary-state', progress.canary.state);
    var pausedFor = progress.pause ? progress.pause.reasonCode : '';
    var canaryComplete = document.getElementById('run-canary-complete');
    if (canaryComplete) canaryComplete.hidden = pausedFor !== 'CANARY_COMPLETE';
    var canaryFailed = document.getElementById('run-canary-failed');
    if (canaryFailed) canaryFailed.hidden = pausedFor !== 'CANARY_FAILED';
    setNote('run-cancelling', progress.status === 'completed' ? null : progress.cancellation);
    setControls(progress.actions);
    // SPEC §10: a run awaiting approval is live but does not progress; once decided, its approval forms go.
    var approval = document.getElementById('run-approval');
    if (approval && progress.status !== 'awaiting_approval') {
      approval.hidden = true;
      var decided = document.getElementById('run-approval-decided');
      if (decided) {
        decided.textContent = progress.outcome === 'rejected' ? 'This run was rejected. Reload the page for who and why.' : 'This run was approved and has started.';
        decided.hidden = false;
      }
    }
    if (progress.failures) applyFailures(progress.failures);
    setTime('run-started-at', progress.startedAt);
    setTime('run-completed-at', progress.completedAt);
    if (progress.status === 'completed') {
      document.getElementById('run-progress-section').hidden = true;
      // SPEC §11: a succeeded or partially succeeded run is verified a moment later: the stream sends it.
      var verification = document.getElementById('run-verification-pending');
      if (verification && progress.verificationFollows) verification.hidden = false;
      // SPEC §11: what it changed can be reverted; the form comes with the completed page.
      var revertNote = document.getElementById('run-revert-available');
      if (revertNote && (progress.summaryCounts.updated || 0) > 0) revertNote.hidden = false;
    }
  }
  // SPEC §12: the timeline's latest window grows with the run; the stream sends what follows its last revision.
  var timeline = document.getElementById('run-timeline-entries');
  var following = Boolean(timeline) && timeline.dataset.follow === 'true';
  function timelineItem(entry) {
    var li = document.createElement('li');
    li.className = 'timeline-entry';
    li.dataset.revision = String(entry.revision);
    li.dataset.lastRevision = String(entry.lastRevision);
    var line = document.createElement('p');
    var when = document.createElement('span');
    when.className = 'timeline-when';
    when.append(timeOf(entry.at));
    var who = document.createElement('strong');
    who.className = 'timeline-who';
    who.textContent = entry.who;
    var what = document.createElement('span');
    what.className = 'timeline-what';
    what.textContent = entry.what;
    line.append(when, ' ', who, ' ', what);
    li.append(line);
    if (entry.why) {
      var why = document.createElement('p');
      why.className = 'timeline-why';
      if (entry.why.code) { var code = document.createElement('code'); code.textContent = entry.why.code; why.append(code, ' '); }
      var text = document.createElement('span');
      text.textContent = entry.why.text;
      why.append(text);
      li.append(why);
    }
    var details = document.createElement('details');
    var summary = document.createElement('summary');
    summary.textContent = entry.label + ' (JSON)';
    var json = document.createElement('pre');
    json.textContent = JSON.stringify(entry.events.length === 1 ? entry.events[0] : entry.events, null, 2);
    details.append(summary, json);
    li.append(details);
    return li;
  }
  function appendTimeline(entries) {
    var last = Number(timeline.dataset.lastRevision);
    entries.forEach(function (entry) {
      if (entry.lastRevision <= last) return; // already shown (a reconnect resends nothing older, but be sure)
      timeline.append(timelineItem(entry));
      last = entry.lastRevision;
    });
    timeline.dataset.lastRevision = String(last);
    // A long run keeps its latest entries; the earlier ones are a page away.
    var max = Number(timeline.dataset.window) || 200;
    while (timeline.children.length > max) timeline.firstElementChild.remove();
    var first = timeline.firstElementChild ? Number(timeline.firstElementChild.dataset.revision) : 0;
    var range = document.getElementById('run-timeline-range');
    if (range) {
      range.textContent = (first === 0 ? 'Every event of the run (' + (last + 1) + ').' : 'Events ' + (first + 1) + ' to ' + (last + 1) + ' of ' + (last + 1) + '.') + ' New events appear as they happen.';
    }
    if (first > 0) {
      var earlier = document.getElementById('run-timeline-earlier');
      if (!earlier) {
        var holder = document.createElement('p');
        earlier = document.createElement('a');
        earlier.id = 'run-timeline-earlier';
        earlier.textContent = 'Earlier events';
        holder.append(earlier);
        timeline.before(holder);
      }
      earlier.href = location.pathname + '?eventsBefore=' + first + '#run-timeline';
    }
  }
  var streamUrl = root.dataset.streamUrl + (following ? '?after=' + encodeURIComponent(timeline.dataset.lastRevision) : '');
  var source = new EventSource(streamUrl);
  if (following) source.addEventListener('timeline', function (event) { appendTimeline(JSON.parse(event.data)); });
  source.addEventListener('progress', function (event) { apply(JSON.parse(event.data)); });
  source.addEventListener('failures', function (event) { applyFailures(JSON.parse(event.data)); });
  source.addEventListener('completed', function (event) {
    var progress = JSON.parse(event.data);
    // A page rendered completed shows that state already (and carries only the controls it admits).
    if (!awaitingVerificationOnly) apply(progress);
    root.dataset.live = 'false';
    // SPEC §11: a run to be verified keeps the stream open; its verification replaces the note when recorded.
    if (!progress.verificationFollows) source.close();
  });
  source.addEventListener('verified', function (event) {
    source.close();
    var html = JSON.parse(event.data).html;
    var pending = document.getElementById('run-verification-pending') || document.getElementById('run-verification');
    if (!html || !pending) return;
    pending.insertAdjacentHTML('afterend', html);
    pending.remove();
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
