/**
 * Client script of the runbooks page (static; inlined under the CSP nonce). It searches the tenant
 * universe as the operator types, runs the preflight (with the runbook's parameters as the form holds
 * them), and explains refused fields in place — the browser's own constraint checks of the parameter
 * fields (min, max, step, required) before anything is sent, then the server's. After a preflight it
 * shows the preview id, the tenants that would fail (SPEC §11) and, behind "Show the plan", the
 * preview's per-tenant plan a page at a time, and pins the start to that preview (the hidden `preflightId`
 * and "Allowed drift (%)"), unpinned again whenever the scope, tenant or parameters change. Everything it
 * writes goes through textContent/value, never innerHTML. Without it the page still works: the scope
 * choice is CSS, the picker lists the first tenants and the start form posts normally.
 */
export const runbooksScript = `
(function () {
  'use strict';
  function tenantIdOf(text) {
    var trimmed = text.trim();
    var match = /\\(#(\\d{1,16})\\)$/.exec(trimmed) || /^#?(\\d{1,16})$/.exec(trimmed);
    return match ? Number(match[1]) : null;
  }
  function clearErrors(form) {
    form.querySelectorAll('[data-error-for]').forEach(function (slot) { slot.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (field) { field.removeAttribute('aria-invalid'); });
  }
  function showErrors(form, errors) {
    var labels = JSON.parse(form.dataset.fieldLabels || '{}');
    var general = [];
    errors.forEach(function (error) {
      var message = labels[error.field] ? labels[error.field] + ' ' + error.message : error.field + ': ' + error.message;
      var slot = Array.prototype.find.call(form.querySelectorAll('[data-error-for]'), function (candidate) {
        return candidate.dataset.errorFor.split(' ').indexOf(error.field) >= 0;
      });
      if (!slot || slot.dataset.errorFor === '(form)') { general.push(message); return; }
      slot.textContent = slot.textContent ? slot.textContent + ' ' + message : message;
      var field = form.querySelector('[aria-describedby~="' + slot.id + '"]');
      if (field && field.tagName !== 'FIELDSET') field.setAttribute('aria-invalid', 'true');
    });
    var top = form.querySelector('[data-error-for="(form)"]');
    if (general.length > 0) {
      var alert = document.createElement('div');
      alert.className = 'alert error';
      alert.setAttribute('role', 'alert');
      alert.textContent = general.join(' ');
      top.replaceChildren(alert);
    }
  }
  function parameterProblem(field) {
    var validity = field.validity;
    var integer = field.dataset.paramKind === 'integer';
    if (validity.valid) return null;
    if (validity.badInput) return integer ? 'must be a whole number' : 'must be a number';
    if (validity.valueMissing) return 'is required';
    if (validity.rangeUnderflow) return 'must be at least ' + field.min;
    if (validity.rangeOverflow) return 'must be at most ' + field.max;
    if (validity.stepMismatch) return integer ? 'must be a whole number' : 'must be a multiple of ' + field.step;
    if (validity.tooShort) return 'must be at least ' + field.minLength + ' characters';
    if (validity.tooLong) return 'must be at most ' + field.maxLength + ' characters';
    return field.validationMessage || 'is not valid';
  }
  // The parameters as the form holds them (an empty field is left out: its default applies), or the
  // problems of the fields the browser's constraint validation refuses, named as the server names them.
  function readParameters(form) {
    var parameters = {};
    var errors = [];
    form.querySelectorAll('[data-param-path]').forEach(function (field) {
      var path = JSON.parse(field.dataset.paramPath);
      var name = 'parameters.' + path.join('.');
      var kind = field.dataset.paramKind;
      var problem = parameterProblem(field);
      var value;
      if (!problem) {
        if (kind === 'boolean') value = field.checked;
        else if (kind === 'string' ? field.value === '' : field.value.trim() === '') return;
        else if (kind === 'integer') {
          if (/^[+-]?\\d+$/.test(field.value.trim())) value = Number(field.value);
          else problem = 'must be a whole number';
        } else if (kind === 'number') value = Number(field.value);
        else if (kind === 'enum') value = JSON.parse(field.selectedOptions[0].dataset.value);
        else value = field.value;
      }
      if (problem) { errors.push({ field: name, message: problem }); return; }
      var node = parameters;
      path.slice(0, -1).forEach(function (key) {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
        node = node[key];
      });
      node[path[path.length - 1]] = value;
    });
    return { parameters: parameters, errors: errors };
  }
  function focusFirstInvalid(form) {
    var first = form.querySelector('[data-param-path][aria-invalid=true], [aria-invalid=true]');
    if (first) first.focus();
  }
  function capitalized(text) { return text.charAt(0).toUpperCase() + text.slice(1); }
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function plural(count, one, many) { return count + ' ' + (count === 1 ? one : many); }
  function tenantLabel(item) { return (item.tenantName === null ? 'Tenant' : item.tenantName) + ' (#' + item.tenantId + ')'; }
  function reasonBadge(code) { return element('span', 'badge danger', code); }
  // A page of a preview's per-tenant plan (SPEC §11): the tenants that would fail first, then by tenant id.
  function fetchPlan(form, preflightId, cursor, limit) {
    var url = form.dataset.planUrl.replace(form.dataset.planIdPlaceholder, encodeURIComponent(preflightId)) +
      '?limit=' + limit + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
    return fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (response) {
        return response.json().then(
          function (json) { return { ok: response.ok, status: response.status, body: json }; },
          function () { return { ok: false, status: response.status, body: null }; });
      }, function () { return { ok: false, status: 0, body: null }; });
  }
  function planProblem(answer) {
    if (answer.status === 404) return 'This preview is no longer kept (previews are kept 24 hours): run the preflight again.';
    if (answer.status === 0) return 'The plan could not reach the server.';
    return 'The plan could not be loaded' + (answer.body && answer.body.detail ? ': ' + answer.body.detail : ' (HTTP ' + answer.status + ').');
  }
  function showCounts(output, result, unit) {
    var list = document.createElement('dl');
    list.className = 'counts';
    [['Affected ' + unit, result.affectedCount], [capitalized(unit) + ' scanned', result.totalCount], ['Estimated tenants', result.estimatedTenants]]
      .forEach(function (entry) {
        var item = document.createElement('div');
        var term = document.createElement('dt');
        var value = document.createElement('dd');
        term.textContent = entry[0];
        value.textContent = String(entry[1]);
        item.append(term, value);
        list.append(item);
      });
    var preview = element('p', 'preflight-id', 'Preview id ');
    preview.append(element('code', '', result.preflightId), ' (its per-tenant plan is kept 24 hours)');
    output.replaceChildren(list, preview);
  }
  // The tenants whose repair would fail, from the plan's first page (they lead it): name, reason code, message.
  function showWouldFail(form, output, result, current) {
    var failing = result.wouldFailTenants || [];
    if (failing.length === 0) {
      output.append(element('p', 'no-failures', 'No tenant would fail.'));
      return;
    }
    var section = element('section', 'would-fail');
    var title = element('h3', '', 'Would fail: ' + plural(failing.length, 'tenant', 'tenants'));
    title.id = form.dataset.prefix + '-would-fail';
    section.setAttribute('aria-labelledby', title.id);
    var hint = element('p', 'hint', 'Their repair would fail if the run started now; nothing has run.');
    var list = element('ul', 'would-fail-list');
    list.append(element('li', 'muted', 'Loading the tenants that would fail…'));
    section.append(title, hint, list);
    output.append(section);
    fetchPlan(form, result.preflightId, null, Math.min(failing.length, 200)).then(function (answer) {
      if (!current()) return;
      if (!answer.ok) { list.replaceChildren(element('li', 'field-error', planProblem(answer))); return; }
      var items = answer.body.items.filter(function (item) { return item.wouldFail !== null; });
      list.replaceChildren.apply(list, items.map(function (item) {
        var entry = element('li');
        entry.append(element('strong', '', tenantLabel(item)), ' ', reasonBadge(item.wouldFail), ' ', element('span', 'message', item.message || ''));
        return entry;
      }));
      if (failing.length > items.length) list.append(element('li', 'muted', 'and ' + (failing.length - items.length) + ' more: see the plan.'));
    });
  }
  // "Show the plan": every tenant of the preview (tenant, affected, total, would fail), a page at a time.
  function showPlan(form, box, result, unit, current) {
    var details = element('details', 'plan');
    var summary = element('summary', '', 'Show the plan');
    details.append(summary);
    box.replaceChildren(details);
    var loaded = false;
    details.addEventListener('toggle', function () {
      if (!details.open || loaded) return;
      loaded = true;
      var wrap = element('div', 'table-wrap');
      var table = element('table', 'stack plan-table');
      var caption = element('caption', '', 'Per-tenant plan of preview ');
      caption.append(element('code', '', result.preflightId));
      var head = element('thead');
      var headRow = element('tr');
      ['Tenant', 'Affected ' + unit, capitalized(unit) + ' scanned', 'Would fail'].forEach(function (name) {
        var cell = element('th', '', name);
        cell.scope = 'col';
        headRow.append(cell);
      });
      head.append(headRow);
      var body = element('tbody');
      table.append(caption, head, body);
      wrap.append(table);
      var status = element('p', 'hint plan-status', 'Loading the plan…');
      status.setAttribute('role', 'status');
      var more = element('button', 'secondary', 'More');
      more.type = 'button';
      var shown = 0;
      var cursor = null;
      // Not disabled while a page loads: a disabled button loses the keyboard focus.
      var loading = false;
      details.append(wrap, status);
      function load(focusNew) {
        loading = true;
        more.setAttribute('aria-disabled', 'true');
        fetchPlan(form, result.preflightId, cursor, Number(form.dataset.planPageSize) || 50).then(function (answer) {
          if (!current()) return;
          loading = false;
          more.removeAttribute('aria-disabled');
          if (!answer.ok) { status.className = 'field-error plan-status'; status.textContent = planProblem(answer); return; }
          var first = null;
          answer.body.items.forEach(function (item) {
            var row = element('tr', item.wouldFail === null ? '' : 'fails');
            var tenant = element('th', '', tenantLabel(item));
            tenant.scope = 'row';
            tenant.tabIndex = -1;
            tenant.dataset.label = 'Tenant';
            var affected = element('td', '', String(item.affected));
            affected.dataset.label = 'Affected ' + unit;
            var total = element('td', '', String(item.total));
            total.dataset.label = capitalized(unit) + ' scanned';
            var fails = element('td');
            fails.dataset.label = 'Would fail';
            if (item.wouldFail === null) fails.textContent = 'No';
            else fails.append(reasonBadge(item.wouldFail), ' ', element('span', 'message', item.message || ''));
            row.append(tenant, affected, total, fails);
            body.append(row);
            if (!first) first = tenant;
          });
          shown += answer.body.items.length;
          cursor = answer.body.nextCursor;
          status.className = 'hint plan-status';
          status.textContent = 'Showing ' + shown + ' of ' + plural(result.estimatedTenants, 'tenant', 'tenants') + '.';
          var focused = document.activeElement === more;
          // There while there is a next page; gone with the focus on it, the focus goes to the first row it brought.
          if (cursor !== null) { if (!more.isConnected) details.append(more); return; }
          more.remove();
          if (focusNew && focused && first) first.focus();
        });
      }
      more.addEventListener('click', function () { if (!loading) load(true); });
      load(false);
    });
  }
  document.querySelectorAll('form.runbook').forEach(function (form) {
    var picker = form.querySelector('.tenant-picker');
    var tenantInput = form.querySelector('input[name=tenant]');
    var options = document.getElementById(tenantInput.getAttribute('list'));
    var output = form.querySelector('[data-preflight-result]');
    var planBox = form.querySelector('[data-preflight-plan]');
    // SPEC §11: the start's pin (absent when the operator may not start).
    var pinBox = form.querySelector('[data-pin]');
    var pinId = form.querySelector('[data-pin-id]');
    var pinLabel = form.querySelector('[data-pin-label]');
    var driftField = form.querySelector('[data-drift-field]');
    function pinTo(preflightId) {
      if (!pinBox) return;
      pinId.value = preflightId;
      pinLabel.textContent = preflightId;
      pinBox.hidden = preflightId === '';
      if (preflightId === '') {
        pinBox.querySelectorAll('[data-error-for]').forEach(function (slot) { slot.textContent = ''; });
        driftField.removeAttribute('aria-invalid');
      }
    }
    // Each preflight (and each change that clears it) starts a generation: answers of an older one are dropped.
    var generation = 0;
    function clearResult(text) {
      generation++;
      output.textContent = text || '';
      planBox.textContent = '';
      // The plan no longer describes what the form would start: the start is not pinned to it either.
      pinTo('');
    }
    function showPreflight(result, unit) {
      var mine = ++generation;
      var current = function () { return mine === generation; };
      pinTo(result.preflightId);
      showCounts(output, result, unit);
      showWouldFail(form, output, result, current);
      showPlan(form, planBox, result, unit, current);
    }
    var preflightButton = form.querySelector('[data-action=preflight]');
    var scope = function () { var checked = form.querySelector('input[name=scope]:checked'); return checked ? checked.value : ''; };
    var searchTimer = null;
    var lastQuery = null;

    function scopeChanged(initial) {
      var single = scope() === 'single_tenant';
      picker.hidden = !single;
      tenantInput.required = single;
      // On load the form may come back pinned (a refused start keeps what was sent): only a change unpins it.
      if (!initial) clearResult();
    }
    form.querySelectorAll('input[name=scope]').forEach(function (radio) {
      radio.addEventListener('change', function () {
        scopeChanged();
        if (scope() === 'single_tenant') tenantInput.focus();
      });
    });
    scopeChanged(true);

    function search() {
      var query = tenantInput.value.replace(/\\s*\\(#\\d+\\)\\s*$/, '').trim();
      if (query === lastQuery) return;
      lastQuery = query;
      fetch(form.dataset.tenantsUrl + '?q=' + encodeURIComponent(query), { headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (body) {
          options.replaceChildren.apply(options, body.items.map(function (tenant) {
            var option = document.createElement('option');
            option.value = tenant.name + ' (#' + tenant.id + ')';
            return option;
          }));
        })
        .catch(function () {});
    }
    form.querySelectorAll('[data-param-path]').forEach(function (field) {
      field.addEventListener('input', function () { clearResult(); });
    });
    tenantInput.addEventListener('input', function () {
      clearResult();
      clearTimeout(searchTimer);
      searchTimer = setTimeout(search, 200);
    });

    if (preflightButton) {
      preflightButton.addEventListener('click', function () {
        clearErrors(form);
        var body = { scope: scope() };
        var read = readParameters(form);
        var refused = read.errors.slice();
        if (body.scope === 'single_tenant') {
          var tenantId = tenantIdOf(tenantInput.value);
          if (tenantId === null) refused.unshift({ field: 'tenantId', message: 'must be picked from the list of tenants' });
          else body.tenantId = tenantId;
        }
        if (refused.length > 0) {
          clearResult();
          showErrors(form, refused);
          if (body.scope === 'single_tenant' && body.tenantId === undefined) tenantInput.focus(); else focusFirstInvalid(form);
          return;
        }
        body.parameters = read.parameters;
        clearResult('Computing the preflight…');
        preflightButton.disabled = true;
        fetch(form.dataset.preflightUrl, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': form.elements.namedItem('_csrf').value },
          body: JSON.stringify(body),
        })
          .then(function (response) {
            return response.json().then(function (json) { return { ok: response.ok, body: json }; }, function () { return { ok: false, body: { detail: 'The preflight failed (HTTP ' + response.status + ').' } }; });
          })
          .then(function (result) {
            if (result.ok) { showPreflight(result.body, form.dataset.unit || 'rows'); return; }
            clearResult();
            showErrors(form, result.body.errors && result.body.errors.length ? result.body.errors : [{ field: '(request)', message: result.body.detail || 'the preflight failed' }]);
          })
          .catch(function () { clearResult('The preflight could not reach the server.'); })
          .finally(function () { preflightButton.disabled = false; });
      });
    }

    form.addEventListener('submit', function (event) {
      if (form.dataset.canStart !== 'true') { event.preventDefault(); return; }
      // The form posts without the browser's own bubbles (novalidate, so the server can explain the other
      // fields in place); the parameter fields' constraints are checked here, beside each field.
      var read = readParameters(form);
      // A pinned start's tolerance, checked by the browser as the parameters are (a typed "abc" would
      // otherwise reach the server as an empty field, i.e. the default).
      var driftProblem = pinBox && !pinBox.hidden ? parameterProblem(driftField) : null;
      if (driftProblem) read.errors.push({ field: 'maxDriftPercent', message: driftProblem });
      if (read.errors.length > 0) {
        event.preventDefault();
        clearErrors(form);
        showErrors(form, read.errors);
        focusFirstInvalid(form);
        return;
      }
      var submit = form.querySelector('button[type=submit]');
      if (submit) submit.disabled = true;
    });
  });
})();
`
