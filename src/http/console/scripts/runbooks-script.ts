/**
 * Client script of the runbooks page (static; inlined under the CSP nonce). It searches the tenant
 * universe as the operator types, runs the preflight (with the runbook's parameters as the form holds
 * them), and explains refused fields in place — the browser's own constraint checks of the parameter
 * fields (min, max, step, required) before anything is sent, then the server's. Everything it
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
  function showPreflight(output, result, unit) {
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
    output.replaceChildren(list);
  }
  document.querySelectorAll('form.runbook').forEach(function (form) {
    var picker = form.querySelector('.tenant-picker');
    var tenantInput = form.querySelector('input[name=tenant]');
    var options = document.getElementById(tenantInput.getAttribute('list'));
    var output = form.querySelector('[data-preflight-result]');
    var preflightButton = form.querySelector('[data-action=preflight]');
    var scope = function () { var checked = form.querySelector('input[name=scope]:checked'); return checked ? checked.value : ''; };
    var searchTimer = null;
    var lastQuery = null;

    function scopeChanged() {
      var single = scope() === 'single_tenant';
      picker.hidden = !single;
      tenantInput.required = single;
      output.textContent = '';
    }
    form.querySelectorAll('input[name=scope]').forEach(function (radio) {
      radio.addEventListener('change', function () {
        scopeChanged();
        if (scope() === 'single_tenant') tenantInput.focus();
      });
    });
    scopeChanged();

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
      field.addEventListener('input', function () { output.textContent = ''; });
    });
    tenantInput.addEventListener('input', function () {
      output.textContent = '';
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
          output.textContent = '';
          showErrors(form, refused);
          if (body.scope === 'single_tenant' && body.tenantId === undefined) tenantInput.focus(); else focusFirstInvalid(form);
          return;
        }
        body.parameters = read.parameters;
        output.textContent = 'Computing the preflight…';
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
            if (result.ok) { showPreflight(output, result.body, form.dataset.unit || 'rows'); return; }
            output.textContent = '';
            showErrors(form, result.body.errors && result.body.errors.length ? result.body.errors : [{ field: '(request)', message: result.body.detail || 'the preflight failed' }]);
          })
          .catch(function () { output.textContent = 'The preflight could not reach the server.'; })
          .finally(function () { preflightButton.disabled = false; });
      });
    }

    form.addEventListener('submit', function (event) {
      if (form.dataset.canStart !== 'true') { event.preventDefault(); return; }
      // The form posts without the browser's own bubbles (novalidate, so the server can explain the other
      // fields in place); the parameter fields' constraints are checked here, beside each field.
      var read = readParameters(form);
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
