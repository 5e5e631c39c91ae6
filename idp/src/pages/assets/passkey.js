// Motcua: the WebAuthn calls of the sign-in, step-up, passkey offer and
// account pages. Pages work without it: the passkey controls are rendered
// `hidden` and only shown here, in a browser that can use passkeys.
// Written for old phone browsers too: no optional chaining, and options are
// converted by hand (PublicKeyCredential.parseCreationOptionsFromJSON is recent).
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }
  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.fetch);

  // Sign-up: the server offers a passkey afterwards only to a browser that can make one.
  var offer = $("passkey-offer");
  if (offer && supported) { offer.value = "1"; }

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var lang = document.documentElement.lang || "vi";
  var errorBox = $("passkey-error");

  function toBuffer(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // Members sent as null are left out: browsers refuse null where a dictionary is expected.
  function clean(value) {
    if (Array.isArray(value)) { return value.map(clean); }
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (k) {
        if (value[k] !== null && value[k] !== undefined) { out[k] = clean(value[k]); }
      });
      return out;
    }
    return value;
  }
  function withIds(list) {
    return (list || []).map(function (c) { c.id = toBuffer(c.id); return c; });
  }
  function requestOptions(json) {
    var pk = clean(json);
    pk.challenge = toBuffer(pk.challenge);
    pk.allowCredentials = withIds(pk.allowCredentials);
    return pk;
  }
  function creationOptions(json) {
    var pk = clean(json);
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    pk.excludeCredentials = withIds(pk.excludeCredentials);
    return pk;
  }
  function assertionJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type, extensions: {},
      response: {
        authenticatorData: toText(r.authenticatorData), clientDataJSON: toText(r.clientDataJSON),
        signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : null
      }
    };
  }
  function attestationJSON(cred) {
    var r = cred.response;
    var known = ["usb", "nfc", "ble", "internal", "hybrid"];
    var transports = r.getTransports ? r.getTransports().filter(function (t) { return known.indexOf(t) >= 0; }) : [];
    var ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    var out = {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type, extensions: {},
      response: { attestationObject: toText(r.attestationObject), clientDataJSON: toText(r.clientDataJSON), transports: transports }
    };
    if (ext.credProps && typeof ext.credProps.rk === "boolean") { out.extensions.credProps = { rk: ext.credProps.rk }; }
    return out;
  }

  function showError(text) {
    if (!errorBox) { return; }
    errorBox.textContent = text || errorBox.getAttribute("data-cancelled") || "";
    errorBox.hidden = false;
  }
  function clearError() {
    if (errorBox) { errorBox.textContent = ""; errorBox.hidden = true; }
  }
  function text(name) { return errorBox ? errorBox.getAttribute(name) : ""; }
  // A server refusal carries its own translated message; a browser refusal
  // gets the page's message for its kind: the device already holds a passkey
  // for the account, the browser cannot use passkeys here (some in-app
  // browsers), the connection failed; anything else (cancelled, timed out,
  // no passkey on this device) the general one.
  function failed(e) {
    var name = e && e.name;
    if (name === "AbortError") { return; }
    if (e && e.server) {
      // The form's token outlived its session (a page left open): a reload
      // gives a fresh one, where trying again never could.
      if (e.code === "csrf") { window.location.reload(); return; }
      showError(e.message || text("data-failed"));
    } else if (name === "InvalidStateError") {
      showError(text("data-already"));
    } else if (name === "NotSupportedError" || name === "SecurityError") {
      showError(text("data-unsupported"));
    } else if (name === "TypeError") {
      // fetch: no connection.
      showError(text("data-failed"));
    } else {
      showError("");
    }
  }
  function post(path, body) {
    return fetch(path + "?lang=" + encodeURIComponent(lang), {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var e = new Error(data.message || "");
          e.server = true;
          e.code = data.error || "";
          throw e;
        }
        return data;
      });
    });
  }

  // Sign-in: the button (login and step-up pages) and passkey autofill (login page).
  var signin = $("passkey-signin");
  var autofill = null;
  function finishLogin(ceremony, cred) {
    return post("/passkeys/login", { ceremony: ceremony, credential: assertionJSON(cred) }).then(function (data) {
      window.location.assign(data.redirect);
    });
  }
  function startAutofill() {
    if (!PublicKeyCredential.isConditionalMediationAvailable) { return; }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available) { return null; }
      return post("/passkeys/login/options", { conditional: true, req: signin.getAttribute("data-req") || null })
        .then(function (opts) {
          autofill = new AbortController();
          return navigator.credentials.get({
            mediation: "conditional", publicKey: requestOptions(opts.publicKey), signal: autofill.signal
          }).then(function (cred) {
            autofill = null;
            return finishLogin(opts.ceremony, cred);
          });
        });
    }).catch(function (e) {
      // Autofill that never started is not an error worth showing; a refused answer is.
      if (e && e.server) { showError(e.message); }
    });
  }
  if (signin && supported) {
    var stepUp = signin.getAttribute("data-step-up") === "1";
    signin.hidden = false;
    signin.addEventListener("click", function () {
      clearError();
      if (autofill) { autofill.abort(); autofill = null; }
      var body = { req: signin.getAttribute("data-req") || null };
      var identifier = $("identifier");
      if (stepUp) {
        body.step_up = true;
      } else if (identifier && identifier.value.trim()) {
        body.identifier = identifier.value.trim();
      }
      signin.disabled = true;
      post("/passkeys/login/options", body).then(function (opts) {
        return navigator.credentials.get({ publicKey: requestOptions(opts.publicKey) }).then(function (cred) {
          return finishLogin(opts.ceremony, cred);
        });
      }).catch(failed).then(function () { signin.disabled = false; });
    });
    if (!stepUp) { startAutofill(); }
  } else if (signin && signin.getAttribute("data-required") === "1") {
    // Only where a passkey is the one way on (the step-up page): elsewhere
    // the password form works, and a browser without passkeys shows nothing.
    showError(text("data-unsupported"));
  }

  // Registration: the offer after sign-up and the account page.
  var add = $("passkey-add");
  if (add && supported) {
    var box = $("passkey-register");
    if (box) { box.hidden = false; }
    add.addEventListener("click", function () {
      clearError();
      var name = $("passkey-name");
      add.disabled = true;
      post("/passkeys/register/options", { req: add.getAttribute("data-req") || null }).then(function (opts) {
        return navigator.credentials.create({ publicKey: creationOptions(opts.publicKey) }).then(function (cred) {
          return post("/passkeys/register", {
            ceremony: opts.ceremony, name: name ? name.value : "", credential: attestationJSON(cred)
          });
        });
      }).then(function (data) {
        window.location.assign(data.redirect);
      }).catch(failed).then(function () { add.disabled = false; });
    });
  }
})();
