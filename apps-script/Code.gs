/**
 * Facteur — Gmail push (Google Apps Script).
 *
 * Pushes every message of the threads carrying the label FACTEUR_LABEL (default
 * "facteur/to-push") to Facteur's ingest. Each answer is one of:
 *   - accepted: 200 (queued, already_processed, already_processing, skipped_sender_not_allowed);
 *   - refused for good: 400 (invalid payload, missing field), 413 (too large), 422 — the message
 *     itself is the problem, pushing it again would be refused again;
 *   - to retry: anything else — 401 (token being rotated), 409 (ingress or sending switched
 *     off), 408, 429, 5xx, a network error, and 403, 404, 405 and 3xx (FACTEUR_URL or the route
 *     in front of Facteur is wrong: the messages are not the problem).
 * A thread leaves the label once each of its messages was accepted or refused for good; a thread
 * with a refused message also gets the label FACTEUR_REJECTED_LABEL (default
 * "facteur/rejected"), and the reason is logged. A thread with a message to retry keeps its label
 * and is pushed again at the next run (Facteur's dedup makes that safe), so no thread is pushed
 * forever for a reason that cannot change.
 *
 * Script properties: FACTEUR_URL (https://…/api/ingress/gmail: an http:// URL is refused, the
 * token would travel in clear), FACTEUR_TOKEN (PROCESS_API_TOKEN),
 * optional FACTEUR_LABEL, FACTEUR_REJECTED_LABEL, FACTEUR_BATCH (threads per run, default 20).
 * Run install() once.
 */

function settings_() {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('FACTEUR_URL');
  var token = props.getProperty('FACTEUR_TOKEN');
  if (!url || !token) throw new Error('Set the script properties FACTEUR_URL and FACTEUR_TOKEN');
  // The token travels with every push: never over plain http, where anyone on the way reads it.
  if (!/^https:\/\//i.test(String(url).trim())) {
    throw new Error('FACTEUR_URL must start with https:// (the token would travel in clear)');
  }
  return {
    url: url,
    token: token,
    label: props.getProperty('FACTEUR_LABEL') || 'facteur/to-push',
    rejectedLabel: props.getProperty('FACTEUR_REJECTED_LABEL') || 'facteur/rejected',
    batch: Number(props.getProperty('FACTEUR_BATCH') || 20)
  };
}

/** Creates the label and a one-minute trigger (removing older triggers of this function). */
function install() {
  var s = settings_();
  GmailApp.getUserLabelByName(s.label) || GmailApp.createLabel(s.label);
  GmailApp.getUserLabelByName(s.rejectedLabel) || GmailApp.createLabel(s.rejectedLabel);
  ScriptApp.getProjectTriggers().forEach(function (t) {
    if (t.getHandlerFunction() === 'pushLabelled') ScriptApp.deleteTrigger(t);
  });
  ScriptApp.newTrigger('pushLabelled').timeBased().everyMinutes(1).create();
}

/** Statuses that refuse the message itself: pushing it again would be refused again. */
var PERMANENT_REFUSALS = [400, 413, 422];

/** What to do after an answer: 'accepted', 'rejected' (refused for good) or 'retry'. */
function outcome_(code) {
  if (code === 200) return 'accepted';
  if (PERMANENT_REFUSALS.indexOf(code) >= 0) return 'rejected';
  return 'retry';
}

/** Pushes one message; returns its outcome (see outcome_) and the reason when not accepted. */
function pushMessage_(s, message) {
  var payload = {
    subject: message.getSubject() || '',
    sender: message.getFrom() || '',
    body: message.getBody() || message.getPlainBody() || '',
    date: message.getDate().toISOString(),
    snippet: (message.getPlainBody() || '').slice(0, 200)
  };
  try {
    var res = UrlFetchApp.fetch(s.url, {
      method: 'post',
      contentType: 'application/json',
      headers: { Authorization: 'Bearer ' + s.token },
      payload: JSON.stringify(payload),
      muteHttpExceptions: true,
      followRedirects: false
    });
    var code = res.getResponseCode();
    var result = outcome_(code);
    if (result === 'accepted') return { outcome: result };
    var reason =
      'Facteur answered ' +
      code +
      ' for "' +
      payload.subject +
      '": ' +
      res.getContentText().slice(0, 300);
    console.warn(reason);
    return { outcome: result, reason: reason };
  } catch (e) {
    var unreachable = 'Facteur unreachable for "' + payload.subject + '": ' + e;
    console.warn(unreachable);
    return { outcome: 'retry', reason: unreachable };
  }
}

/** The trigger: pushes labelled threads, oldest message first within each thread. */
function pushLabelled() {
  var s = settings_();
  var label = GmailApp.getUserLabelByName(s.label);
  if (!label) return;
  var lock = LockService.getScriptLock();
  if (!lock.tryLock(5000)) return; // a previous run is still going
  try {
    label.getThreads(0, s.batch).forEach(function (thread) {
      var results = [];
      var messages = thread.getMessages();
      for (var i = 0; i < messages.length; i++) {
        var r = pushMessage_(s, messages[i]);
        // The rest of the thread waits for the next run too (no calls spent on an outage).
        if (r.outcome === 'retry') return;
        results.push(r);
      }
      var rejected = results.filter(function (r) {
        return r.outcome === 'rejected';
      });
      if (rejected.length) {
        var rejectedLabel =
          GmailApp.getUserLabelByName(s.rejectedLabel) || GmailApp.createLabel(s.rejectedLabel);
        thread.addLabel(rejectedLabel);
        console.error(
          'Thread "' +
            thread.getFirstMessageSubject() +
            '" moved to ' +
            s.rejectedLabel +
            ': ' +
            rejected
              .map(function (r) {
                return r.reason;
              })
              .join(' | ')
        );
      }
      thread.removeLabel(label);
    });
  } finally {
    lock.releaseLock();
  }
}
