#!/usr/bin/env node
// The breaking-change gate of `make spec-check` (README, "Releases and versioning").
//
// Compares openapi/openapi.yaml with the last released spec and fails when
//   - a change would break an existing client (api-smart-diff's classification, with our own rules below), or
//     an endpoint that receives our events (x-webhooks, compared as responses), and
//     openapi/breaking-changes.yaml does not list it as deliberate;
//   - the spec differs from the release but CHANGELOG.md says nothing about it (an empty [Unreleased] section
//     and no new version with its own section);
//   - info.version is not x.y.z, is lower than the release's, or was raised without a `## [x.y.z]` section.
//
// The last release: the newest `## [x.y.z]` section of CHANGELOG.md, found as the tag vx.y.z, or else (a clone
// without tags) as the commit that added that section (a release commit adds it; see the README). A section
// that is not committed yet is a release being prepared: the one before it is the baseline. With no baseline
// found the gate fails. `--base FILE` compares with a file instead of git (the tests do).
//
// Usage: node tools/spec-diff/gate.js [--spec openapi/openapi.yaml] [--changelog CHANGELOG.md]
//                                     [--accepted openapi/breaking-changes.yaml] [--base FILE]
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const yaml = require("js-yaml");
const { apiCompare } = require("api-smart-diff");

const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

function parseArgs(argv) {
  const args = {
    spec: "openapi/openapi.yaml",
    changelog: "CHANGELOG.md",
    accepted: "openapi/breaking-changes.yaml",
    base: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in args) || argv[i + 1] === undefined) {
      throw new Usage(`unknown or incomplete option ${argv[i]}`);
    }
    args[key] = argv[i + 1];
  }
  return args;
}

class Usage extends Error {}
class Failure extends Error {}

function semver(version, where) {
  const m = SEMVER.exec(String(version));
  if (!m) throw new Failure(`${where}: info.version ${JSON.stringify(version)} is not semantic (x.y.z)`);
  return m.slice(1, 4).map(Number);
}

function compareVersions(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

// CHANGELOG.md: the [Unreleased] section's entries and the released versions, each with its entries.
function readChangelog(file) {
  if (!fs.existsSync(file)) throw new Failure(`${file} is missing`);
  const text = fs.readFileSync(file, "utf8").replace(/<!--[\s\S]*?-->/g, "");
  const sections = new Map();
  let current = null;
  for (const line of text.split("\n")) {
    const heading = /^## \[([^\]]+)\]/.exec(line);
    if (heading) {
      current = heading[1].toLowerCase() === "unreleased" ? "unreleased" : heading[1];
      sections.set(current, []);
    } else if (/^\[[^\]]+\]: /.test(line)) {
      current = null; // the link references at the bottom
    } else if (current && /^\s*[-*] \S/.test(line)) {
      sections.get(current).push(line.trim());
    }
  }
  if (!sections.has("unreleased")) throw new Failure(`${file} has no "## [Unreleased]" section`);
  const releases = [...sections.keys()]
    .filter((key) => key !== "unreleased")
    .map((key) => {
      if (!SEMVER.test(key)) throw new Failure(`${file}: "## [${key}]" is not a semantic version (x.y.z)`);
      return key;
    })
    .sort((a, b) => compareVersions(semver(b, file), semver(a, file)));
  return { unreleased: sections.get("unreleased"), releases, sections };
}

function git(...args) {
  return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function gitOk(...args) {
  try {
    return git(...args);
  } catch {
    return null;
  }
}

// The last released spec from git: { label, version, doc }.
function findBaseline(specFile, changelogFile, releases) {
  if (gitOk("rev-parse", "--is-inside-work-tree") !== "true") {
    throw new Failure("not inside a git work tree: no released spec to compare with (or pass --base FILE)");
  }
  const top = git("rev-parse", "--show-toplevel");
  const specInRepo = path.relative(top, path.resolve(specFile)).split(path.sep).join("/");
  const changelogInRepo = path.relative(top, path.resolve(changelogFile)).split(path.sep).join("/");
  const notes = [];
  const shallow = gitOk("rev-parse", "--is-shallow-repository") === "true";
  for (const version of releases) {
    let commit = gitOk("rev-parse", "-q", "--verify", `refs/tags/v${version}^{commit}`);
    let how = `tag v${version}`;
    if (!commit && shallow) {
      // A shallow clone's oldest commit seems to add every file: its history cannot name the release commit.
      throw new Failure(
        `tag v${version} not found and this clone is shallow: fetch the history and tags ` +
          "(git fetch --unshallow --tags; actions/checkout: fetch-depth: 0)",
      );
    }
    if (!commit) {
      // No tag (a clone without tags): the release commit is the one that added the version's section.
      const adding = gitOk("log", "--format=%H", "-S", `## [${version}]`, "--", changelogInRepo);
      commit = adding ? adding.split("\n").pop() : null;
      if (!commit) {
        notes.push(`${version} has no tag v${version} and no commit adds "## [${version}]": not released yet`);
        continue;
      }
      how = `tag v${version} not found: the commit that added "## [${version}]" to ${changelogInRepo}`;
    }
    const text = gitOk("show", `${commit}:${specInRepo}`);
    if (text === null) throw new Failure(`${how} (${commit.slice(0, 12)}) has no ${specInRepo}`);
    const doc = yaml.load(text);
    const released = doc && doc.info ? String(doc.info.version) : "(none)";
    if (released !== version) {
      throw new Failure(`${how} (${commit.slice(0, 12)}) has info.version ${released}, not ${version}`);
    }
    for (const note of notes) console.log(`spec-diff: ${note}`);
    return { label: `${version}, ${how}, commit ${commit.slice(0, 12)}`, version, doc };
  }
  throw new Failure(
    `no released spec found: ${notes.join("; ") || `${changelogInRepo} names no released version`}.` +
      " Fetch the tags (git fetch --tags) or tag the release (README, \"Releases and versioning\").",
  );
}

// Where a change is: the operation ("GET /calls/{callId}", or the path alone for a path-level change) and the
// rest of its location.
function locate(diffPath) {
  const [, route, method, ...rest] = diffPath;
  if (String(route).startsWith(EVENTS)) {
    return { operation: `EVENT ${String(route).slice(EVENTS.length)}`, where: rest.slice(3).join("/") };
  }
  if (method !== undefined && METHODS.has(String(method))) {
    return { operation: `${String(method).toUpperCase()} ${route}`, where: rest.join("/") };
  }
  return { operation: String(route), where: [method, ...rest].filter((p) => p !== undefined).join("/") };
}

// The events (x-webhooks: what we POST to customers' endpoints) are compared as responses are: a customer's
// endpoint reads them. Each becomes a pseudo operation `GET /x-webhooks/<event type>` answering its body.
const EVENTS = "/x-webhooks/";
function withEvents(doc) {
  const events = (doc && doc["x-webhooks"]) || {};
  const paths = { ...(doc.paths || {}) };
  for (const [name, item] of Object.entries(events)) {
    const content = item && item.post && item.post.requestBody && item.post.requestBody.content;
    if (content) paths[`${EVENTS}${name}`] = { get: { responses: { 200: { description: name, content } } } };
  }
  return { ...doc, paths };
}

function isResponse(diffPath) {
  return diffPath.includes("responses");
}

// Our rules on top of api-smart-diff's classification.
function classify(diff) {
  const p = diff.path.map(String);
  const enumAt = p.lastIndexOf("enum");
  // "Enums may grow" (the spec's description): a new value in a response is not a break.
  if (isResponse(p) && diff.action === "add" && enumAt !== -1 && enumAt >= p.length - 2) return "non-breaking";
  // So may a union whose description says it may grow (the Event union: its `type` tells which): a new member
  // in a response is a new kind of value, as a new enum value is. (api-smart-diff reports the union's members
  // from the one whose index moved, each merged with the union's own description.)
  const growing = /\(may grow\)/.test(JSON.stringify(diff.after === undefined ? null : diff.after));
  if (isResponse(p) && diff.action === "add" && p[p.length - 2] === "oneOf" && growing) return "non-breaking";
  // A changed type breaks clients either way, but for a request that now takes any number, not only integers.
  if (p[p.length - 1] === "type" && diff.action === "replace") {
    const widened = !isResponse(p) && diff.before === "integer" && diff.after === "number";
    return widened ? "non-breaking" : "breaking";
  }
  return diff.type;
}

// JSON with sorted keys: moving a key is no change.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

// api-smart-diff's description, with the changed keyword where it leaves it out (a $ref met again).
function describe(diff) {
  const last = String(diff.path[diff.path.length - 1]);
  const text = diff.description ? String(diff.description).trim().replace(/^(\[\w+\])\s+in /, `$1 ${last} in `) : "";
  return text || `[${diff.action}] ${last}: ${JSON.stringify(diff.before)} -> ${JSON.stringify(diff.after)}`;
}

function readAccepted(file) {
  if (!fs.existsSync(file)) return { since: null, accepted: [] };
  const doc = yaml.load(fs.readFileSync(file, "utf8")) || {};
  const accepted = doc.accepted || [];
  if (!Array.isArray(accepted)) throw new Failure(`${file}: "accepted" must be a list`);
  accepted.forEach((entry, i) => {
    if (!entry || typeof entry.operation !== "string" || typeof entry.reason !== "string" || !entry.reason.trim()) {
      throw new Failure(`${file}: accepted[${i}] needs an "operation" (METHOD path) and a "reason"`);
    }
  });
  return { since: doc.since === undefined || doc.since === null ? null : String(doc.since), accepted };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const spec = yaml.load(fs.readFileSync(args.spec, "utf8"));
  const version = String(spec.info.version);
  const current = semver(version, args.spec);
  const changelog = readChangelog(args.changelog);

  let baseline;
  if (args.base) {
    const doc = yaml.load(fs.readFileSync(args.base, "utf8"));
    baseline = { label: `${doc.info.version}, the file ${args.base}`, version: String(doc.info.version), doc };
  } else {
    baseline = findBaseline(args.spec, args.changelog, changelog.releases);
  }
  console.log(`spec-diff: ${args.spec} (${version}) against the last release: ${baseline.label}`);
  const released = semver(baseline.version, "the baseline");
  const problems = [];

  // Versions and the changelog.
  const bumped = compareVersions(current, released) > 0;
  if (compareVersions(current, released) < 0) {
    problems.push(`info.version ${version} is lower than the released ${baseline.version}`);
  }
  if (bumped && !changelog.sections.has(version)) {
    problems.push(`info.version was raised to ${version}, but ${args.changelog} has no "## [${version}]" section`);
  }
  const changed = canonical(spec) !== canonical(baseline.doc);
  const noted = changelog.unreleased.length > 0 || (bumped && (changelog.sections.get(version) || []).length > 0);
  if (changed && !noted) {
    problems.push(
      `${args.spec} differs from ${baseline.version} but ${args.changelog} says nothing about it: add an entry ` +
        `under "## [Unreleased]" (or raise info.version with a "## [x.y.z]" section of its own)`,
    );
  }

  // Breaking changes.
  const { diffs } = changed ? apiCompare(withEvents(baseline.doc), withEvents(spec)) : { diffs: [] };
  const inPaths = diffs.filter((d) => d.path[0] === "paths"); // components are reached through the paths
  const breaks = [];
  let unclassified = 0;
  for (const diff of inPaths) {
    const type = classify(diff);
    if (type === "breaking") breaks.push({ ...locate(diff.path), text: describe(diff) });
    else if (type === "unclassified") unclassified += 1;
  }
  const list = readAccepted(args.accepted);
  let accepted = list.accepted;
  if (accepted.length && list.since !== baseline.version) {
    console.log(
      `spec-diff: ${args.accepted} lists breaks since ${list.since}, not since ${baseline.version}: ignored ` +
        `(empty it and set since: ${baseline.version})`,
    );
    accepted = [];
  }
  const used = new Set();
  const unaccepted = [];
  for (const b of breaks) {
    const i = accepted.findIndex((e) => e.operation === b.operation && (!e.where || b.where.includes(e.where)));
    if (i === -1) {
      unaccepted.push(b);
    } else {
      used.add(i);
      console.log(`spec-diff: accepted break: ${b.operation}: ${b.text} (${accepted[i].reason.trim()})`);
    }
  }
  accepted.forEach((e, i) => {
    if (!used.has(i)) {
      problems.push(`${args.accepted}: the accepted break ${e.operation} ${e.where || ""} matches no change: remove it`);
    }
  });
  for (const b of unaccepted) {
    console.log(`BREAKING ${b.operation}: ${b.text} (at ${b.where || "the path"})`);
  }
  if (unaccepted.length) {
    problems.push(
      `${unaccepted.length} breaking change(s) against ${baseline.version}. Undo them, or make them deliberate: ` +
        `list each in ${args.accepted} (operation, where, reason) and say "BREAKING" in ${args.changelog}`,
    );
  }
  if (used.size && bumped) {
    const major = released[0] === 0 ? 1 : 0; // before 1.0.0 a break raises the minor version
    if (current[major] === released[major]) {
      problems.push(`deliberate breaks need a ${major ? "minor" : "major"} version above ${baseline.version}`);
    }
  }

  const summary =
    `${breaks.length} breaking (${used.size} accepted), ${inPaths.length - breaks.length} other change(s)` +
    (unclassified ? `, ${unclassified} unclassified` : "");
  for (const problem of problems) console.error(`spec-diff: FAIL: ${problem}`);
  console.log(`spec-diff: ${summary}: ${problems.length ? "FAILED" : "ok"}`);
  return problems.length ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (error) {
  if (error instanceof Failure || error instanceof Usage) {
    console.error(`spec-diff: FAIL: ${error.message}`);
    process.exitCode = error instanceof Usage ? 2 : 1;
  } else {
    throw error;
  }
}
