// The status board: applications, their deployment groups, each group's running or last
// deployment, and its instances or targets as tiles, kept live by each application's
// event stream. Read with fetch, not EventSource, so a key can go in a header.
"use strict";

const KEY = "codedeploy-gateway-key";
const FINAL = new Set(["Succeeded", "Failed", "Stopped"]);
const FAILING = new Set(["Failed", "Stopped"]);
const apps = new Map(); // application -> Map(group -> {info, deployments: Map(id -> {info, items})})
const open = new Set(); // the tiles whose details are shown, by id
const root = document.getElementById("board");
const announce = document.getElementById("announce");

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: headers() });
  if (response.status === 401) throw new NeedsKey();
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

class NeedsKey extends Error {}

function askForKey() {
  root.replaceChildren();
  const form = element("form", { class: "key" });
  const label = element("label", { for: "key" }, "API key or token (kept for this tab only)");
  const input = element("input", { id: "key", type: "password", autocomplete: "off" });
  const button = element("button", { type: "submit" }, "Show the board");
  form.append(label, " ", input, " ", button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value);
    start();
  });
  root.append(form);
  input.focus();
}

async function start() {
  if (root.dataset.auth === "required" && !sessionStorage.getItem(KEY)) return askForKey();
  try {
    const listed = await api("/v1/applications?pageSize=100");
    root.replaceChildren();
    for (const application of listed.applications) {
      apps.set(application, new Map());
      root.append(element("section", { id: `app-${application}`, "aria-label": application }));
      render(application);
      follow(application, null);
    }
  } catch (error) {
    if (error instanceof NeedsKey) askForKey();
    else root.textContent = `The board could not be loaded: ${error.message}`;
  }
}

// One application's stream, read event by event; resumed after its last event on a drop,
// after 2 s doubling to a minute (or the server's Retry-After); refused for good on a 4xx.
async function follow(application, lastEventId, delay = 2000) {
  const path = `/v1/applications/${encodeURIComponent(application)}/events`;
  let last = lastEventId;
  try {
    const extra = last ? { "Last-Event-ID": last } : {};
    const response = await fetch(path, { headers: { ...headers(), ...extra } });
    if (response.status === 401) return askForKey();
    if (response.status === 429 || response.status >= 500) {
      const asked = Number(response.headers.get("Retry-After")) * 1000;
      setTimeout(() => follow(application, last, Math.min(delay * 2, 60000)), Math.max(asked || 0, delay));
      return;
    }
    if (!response.ok) {
      document.getElementById(`app-${application}`).append(
        element("p", { role: "alert" }, `This application cannot be followed (${response.status}).`),
      );
      return;
    }
    delay = 2000;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = {};
        for (const line of frame.split("\n")) {
          const colon = line.indexOf(": ");
          if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
        }
        if (fields.id) last = fields.id;
        if (fields.event && fields.data) received(application, fields.event, JSON.parse(fields.data));
      }
    }
  } catch (error) {
    // A dropped connection: the stream resumes below.
  }
  setTimeout(() => follow(application, last, Math.min(delay * 2, 60000)), delay);
}

function received(application, kind, data) {
  const groups = apps.get(application);
  if (kind === "group") {
    const info = data.deploymentGroupInfo;
    const group = groups.get(info.deploymentGroupName) || { deployments: new Map() };
    group.info = info;
    groups.set(info.deploymentGroupName, group);
    if (!group.deployments.size) loadLast(application, group);
  } else if (kind === "deployment") {
    const info = data.deploymentInfo;
    const group = groups.get(info.deploymentGroupName) || { deployments: new Map() };
    groups.set(info.deploymentGroupName, group);
    const known = group.deployments.get(info.deploymentId);
    if (known && known.info.status !== info.status) {
      announce.textContent = `${info.deploymentGroupName}: ${info.deploymentId} ${info.status}`;
    }
    group.deployments.set(info.deploymentId, { info, items: known ? known.items : new Map() });
    // Only the running deployments and the last one are kept: a board left open for days
    // does not hold every run.
    const newest = current(group);
    for (const [id, deployment] of group.deployments) {
      if (deployment !== newest && FINAL.has(deployment.info.status)) group.deployments.delete(id);
    }
  } else {
    const item = itemOf(kind, data);
    for (const group of groups.values()) {
      const deployment = group.deployments.get(item.deploymentId);
      if (deployment) deployment.items.set(item.id, item);
    }
  }
  scheduleRender(application);
}

// Events come in bursts (a whole picture at once): one render a frame per application.
const pending = new Set();
function scheduleRender(application) {
  if (pending.has(application)) return;
  pending.add(application);
  requestAnimationFrame(() => {
    pending.delete(application);
    render(application);
  });
}

function itemOf(kind, data) {
  const item = kind === "instance"
    ? data.instanceSummary
    : Object.values(data.deploymentTarget).find((part) => part && typeof part === "object") || {};
  return {
    id: item.instanceId || item.targetId,
    deploymentId: item.deploymentId,
    status: item.status || "Unknown",
    events: item.lifecycleEvents || [],
  };
}

// A group with nothing running: its last deployment, read once.
async function loadLast(application, group) {
  const last = group.info.lastAttemptedDeployment;
  if (!last || !last.deploymentId) return;
  try {
    const { deploymentInfo } = await api(`/v1/deployments/${last.deploymentId}`);
    const kind = deploymentInfo.computePlatform === "Server" ? "instance" : "target";
    const page = await api(`/v1/deployments/${last.deploymentId}/${kind}-summaries?pageSize=100`);
    const items = new Map();
    for (const summary of page.instancesSummary || []) {
      const item = itemOf("instance", { instanceSummary: summary });
      items.set(item.id, item);
    }
    for (const target of page.deploymentTargets || []) {
      const item = itemOf("target", { deploymentTarget: target });
      items.set(item.id, item);
    }
    if (!group.deployments.has(last.deploymentId)) {
      group.deployments.set(last.deploymentId, { info: deploymentInfo, items });
      render(application);
    }
  } catch (error) {
    // Shown as the group's last status only.
  }
}

function current(group) {
  const deployments = [...group.deployments.values()];
  deployments.sort((a, b) => String(b.info.createTime).localeCompare(String(a.info.createTime)));
  return deployments.find((d) => !FINAL.has(d.info.status)) || deployments[0];
}

function render(application) {
  const section = document.getElementById(`app-${application}`);
  const focused = document.activeElement && document.activeElement.id;
  const parts = [element("h2", {}, application)];
  const groups = [...apps.get(application).entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [name, group] of groups) {
    const article = element("article", { class: "group", "aria-label": `deployment group ${name}` });
    article.append(element("h3", {}, name));
    const deployment = current(group);
    if (!deployment) {
      const last = group.info && group.info.lastAttemptedDeployment;
      article.append(element("p", {}, last ? `Last deployment ${last.deploymentId}: ` : "No deployment yet"));
      if (last) article.lastChild.append(badge(last.status));
    } else {
      article.append(deploymentPart(deployment));
    }
    parts.push(article);
  }
  section.replaceChildren(...parts);
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

function deploymentPart(deployment) {
  const info = deployment.info;
  const part = element("div", { class: "deployment" });
  const title = element("p", {}, `${info.deploymentId} `);
  title.append(badge(info.status));
  part.append(title);
  const items = [...deployment.items.values()].sort(
    (a, b) => FAILING.has(b.status) - FAILING.has(a.status) || a.id.localeCompare(b.id),
  );
  const tiles = element("ul", { class: "tiles", "aria-label": `${info.deploymentId}: instances and targets` });
  for (const item of items) {
    const key = `${info.deploymentId}/${item.id}`;
    const shown = open.has(key);
    const tile = element("button", {
      id: `tile-${key}`,
      class: `tile s-${item.status}`,
      "aria-expanded": String(shown),
      "aria-controls": `details-${key}`,
      "data-status": item.status,
    });
    tile.append(element("span", {}, item.id), element("span", { class: "label" }, item.status));
    tile.addEventListener("click", () => {
      if (open.has(key)) open.delete(key);
      else open.add(key);
      render(currentApplication(tile));
    });
    const entry = element("li", {}, tile);
    if (shown) entry.append(details(key, item));
    tiles.append(entry);
  }
  part.append(tiles);
  return part;
}

function currentApplication(node) {
  return node.closest("section").getAttribute("aria-label");
}

function details(key, item) {
  const box = element("div", { id: `details-${key}`, class: "details" });
  const table = element("table");
  table.append(element("caption", { class: "visually-hidden" }, `${item.id}: lifecycle events`));
  const head = element("tr");
  for (const name of ["Lifecycle event", "Status", "Diagnostics"]) head.append(element("th", { scope: "col" }, name));
  table.append(head);
  for (const event of item.events) {
    const row = element("tr");
    const diagnostics = event.diagnostics || {};
    const cell = element("td", {}, [diagnostics.errorCode, diagnostics.scriptName].filter(Boolean).join(" · "));
    if (diagnostics.logTail) cell.append(element("pre", {}, diagnostics.logTail));
    row.append(element("td", {}, event.lifecycleEventName || ""), element("td", {}, badge(event.status || "Pending")), cell);
    table.append(row);
  }
  box.append(table);
  return box;
}

function badge(status) {
  return element("span", { class: `status s-${status}` }, status);
}

function element(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children.flat()) node.append(child);
  return node;
}

start();
