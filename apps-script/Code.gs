/**
 * Facteur — Gmail push (Google Apps Script).
 *
 * Pushes every message of the threads carrying the label FACTEUR_LABEL (default
 * "facteur/to-push") to Facteur's ingest, and removes the label from a thread once every one of
 * its messages was answered 200 (queued, already_processed, already_processing,
 * skipped_sender_not_allowed). Any other answer (401, 409 sending disabled, 413, 5xx, network
 * error) keeps the label, so the next run pushes again: Facteur's dedup makes that safe.
 *
 * Script properties: FACTEUR_URL (…/api/ingress/gmail), FACTEUR_TOKEN (PROCESS_API_TOKEN),
 * optional FACTEUR_LABEL, optional FACTEUR_BATCH (threads per run, default 20).
 * Run install() once.
 */

function settings_() {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('FACTEUR_URL');
  var token = props.getProperty('FACTEUR_TOKEN');
  if (!url || !token) throw new Error('Set the script properties FACTEUR_URL and FACTEUR_TOKEN');
  return {
    url: url,
    token: token,
    label: props.getProperty('FACTEUR_LABEL') || 'facteur/to-push',
    batch: Number(props.getProperty('FACTEUR_BATCH') || 20)
  };
}

/** Creates the label and a one-minute trigger (removing older triggers of this function). */
function install() {
  var s = settings_();
  GmailApp.getUserLabelByName(s.label) || GmailApp.createLabel(s.label);
  ScriptApp.getProjectTriggers().forEach(function (t) {
    if (t.getHandlerFunction() === 'pushLabelled') ScriptApp.deleteTrigger(t);
  });
  ScriptApp.newTrigger('pushLabelled').timeBased().everyMinutes(1).create();
}

/** Pushes one message; true when Facteur answered 200. */
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
    if (code !== 200) console.warn('Facteur answered ' + code + ' for "' + payload.subject + '": ' + res.getContentText().slice(0, 300));
    return code === 200;
  } catch (e) {
    console.warn('Facteur unreachable for "' + payload.subject + '": ' + e);
    return false;
  }
}

/** The trigger: pushes labelled threads, oldest first within each thread. */
function pushLabelled() {
  var s = settings_();
  var label = GmailApp.getUserLabelByName(s.label);
  if (!label) return;
  var lock = LockService.getScriptLock();
  if (!lock.tryLock(5000)) return; // a previous run is still going
  try {
    label.getThreads(0, s.batch).forEach(function (thread) {
      var allDone = thread.getMessages().every(function (m) { return pushMessage_(s, m); });
      if (allDone) thread.removeLabel(label);
    });
  } finally {
    lock.releaseLock();
  }
}
