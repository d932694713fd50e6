/**
 * Which module of src/ may import which: the layers of ../shared/DESIGN.md, checked by
 * `npm run depcheck` (part of `npm test`). Each layer imports only the layers below it:
 *
 *   main / cli / server /    start-up, config file, signals (reload, graceful stop), readiness,
 *   service                  doctor, offline nvram tool
 *   api                      express app, routes, validation, error mapping
 *   driver                   the ComputeDriver contract and its flows
 *   firmware hypervisor replica   (replica: the store, and replication: scheduler, reactions, admin)
 *   config metrics nvram domainXml peer state varstore util errors nova wire events (+ firmware/types.ts)
 *
 * Modules of one layer may import each other (but never in a cycle). Type-only imports count
 * (`tsPreCompilationDeps`): a type borrowed from an upper layer couples the layers all the same.
 */

// Path patterns of each layer, top to bottom.
const TOP = '^src/(main|server)\\.ts$|^src/(cli|service)/';
const API = '^src/api/';
const DRIVER = '^src/driver/';
const MIDDLE = '^src/(firmware|hypervisor|replica)/';
const BOTTOM = '^src/((config|metrics|nvram|domainXml|peer|state|varstore|util|nova|wire|events)/|errors\\.ts$)';
// The firmware vocabulary (BootRequest, FirmwareSelection, ...): types only, no imports and no
// code. A pinned selection is stored in records and journals and rendered by the XML model, so
// the bottom layer may name these types; the rest of firmware/ stays in the middle.
const VOCABULARY = '^src/firmware/types\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'vocabulary-has-no-imports',
      severity: 'error',
      comment: 'firmware/types.ts may be named by the bottom layer only while it imports nothing (types only).',
      from: { path: VOCABULARY },
      to: { path: '.' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles anywhere in src/: a cycle makes two modules one (neither can be read, tested or moved alone) ' +
        'and in CommonJS one side sees the other half-initialised at load time.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'bottom-layer-imports-upward',
      severity: 'error',
      comment:
        'config, metrics, nvram, domainXml, peer, state, varstore, util, errors and nova are the building blocks: they know ' +
        'nothing of firmware selection, hypervisors, the driver, the API or start-up (DESIGN.md layers).',
      from: { path: BOTTOM },
      to: { path: [MIDDLE, DRIVER, API, TOP], pathNot: VOCABULARY },
    },
    {
      name: 'middle-layer-imports-upward',
      severity: 'error',
      comment:
        'firmware, hypervisor and replica serve the driver; they must not call back into it, the API or start-up ' +
        '(DESIGN.md layers). Shared types belong in a lower layer.',
      from: { path: MIDDLE },
      to: { path: [DRIVER, API, TOP] },
    },
    {
      name: 'driver-imports-upward',
      severity: 'error',
      comment: 'The driver is the Nova contract and knows no HTTP: the API calls it, never the reverse, and start-up wires ' + 'it (DESIGN.md layers).',
      from: { path: DRIVER },
      to: { path: [API, TOP] },
    },
    {
      name: 'api-imports-upward',
      severity: 'error',
      comment: 'The API is assembled by start-up (server.ts, main.ts); it never reaches back into start-up or the CLI (DESIGN.md layers).',
      from: { path: API },
      to: { path: TOP },
    },
    {
      name: 'api-imports-driver-class',
      severity: 'error',
      comment:
        "The API depends on the driver's interfaces (driver/contract: Nova's ComputeDriver; driver/services: NVRAM " +
        'administration, Secure Boot across the host, replicas, host firmware, the peer side), never on the class that ' +
        'implements them or on a flow: start-up hands it the driver.',
      from: { path: API },
      to: { path: DRIVER, pathNot: '^src/driver/(contract\\.ts$|services/)' },
    },
    {
      name: 'replica-state-outside-replica-room',
      severity: 'error',
      comment:
        'Replica states (state/replicas) and their transition table belong to replication, in its own room (src/replica/: the ' +
        "scheduler writes them, reacting to the flows' announcements); a flow or start-up that wrote them would bypass the table and the scheduler.",
      from: { path: '^src/', pathNot: '^src/(replica/|state/replicas\\.ts$)' },
      to: { path: '^src/state/replicas\\.ts$' },
    },
    {
      name: 'flows-call-replication',
      severity: 'error',
      comment:
        'Flows announce what happened (events) and replication subscribes (replica/reactions). Only the driver class wires the ' +
        'subscription and hands replica administration its host access (driver/index); the core holds the service for reads ' +
        '(driver/core: a read-only view of it) and the restores read and pin generations (driver/restore). No other flow names replication.',
      from: { path: DRIVER, pathNot: '^src/driver/(index|core|restore)\\.ts$' },
      to: { path: '^src/replica/(scheduler|reactions|admin)\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'flows-name-replication-types',
      severity: 'error',
      comment:
        'Flows may name what replication shows (replica/views) and the API-facing interfaces their answer types ' +
        '(driver/services/replicaAdmin, replica/admin), but no flow names the scheduler or the reactions, even as a type.',
      from: { path: DRIVER, pathNot: '^src/driver/(index|core|restore)\\.ts$' },
      to: { path: '^src/replica/(scheduler|reactions)\\.ts$' },
    },
    {
      name: 'events-are-vocabulary',
      severity: 'error',
      comment:
        'events/ is what the flows announce and subscribers hear: it names the firmware vocabulary and the logger and nothing ' +
        'else, so the driver and replication can both import it without importing each other.',
      from: { path: '^src/events/' },
      to: { path: '^src/', pathNot: '^src/(firmware/types|util/log)\\.ts$' },
    },
    {
      name: 'only-the-driver-class-subscribes',
      severity: 'error',
      comment:
        "Replication's listener is subscribed once, by the driver class (driver/index), which tests and start-up build: " +
        'a second subscription elsewhere would write every generation twice.',
      from: { path: '^src/', pathNot: '^src/(driver/index|replica/reactions)\\.ts$' },
      to: { path: '^src/replica/reactions\\.ts$' },
    },
    {
      name: 'driver-touches-files',
      severity: 'error',
      comment:
        'DESIGN.md: driver/ is an orchestrator that never touches files itself; file work belongs to nvram/, state/ ' +
        'and util/ (atomic writes, fsync, cleanup) where it is written and tested once.',
      from: { path: DRIVER },
      to: { dependencyTypes: ['core'], path: '^(node:)?fs(/promises)?$' },
    },
    {
      name: 'xml2js-outside-serializer',
      severity: 'error',
      comment:
        'STYLE R4 / DESIGN.md: the XML layer is a typed model; only src/domainXml/serialize.ts imports the XML ' +
        'library, so it can be replaced in one file and nothing else handles XML text.',
      from: { path: '^src/', pathNot: '^src/domainXml/serialize\\.ts$' },
      to: { path: '(^|/)node_modules/(@types/)?xml2js/' },
    },
    {
      name: 'varstore-does-io',
      severity: 'error',
      comment:
        'DESIGN.md: varstore is the edk2 format and pure (bytes in, bytes out); reading and writing files is the ' +
        "caller's (nvram/, cli/), which keeps it testable byte by byte and usable on any storage.",
      from: { path: '^src/varstore/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(fs|fs/promises|child_process|net|http|https|http2|dgram|tls)$' },
    },
    {
      name: 'src-imports-dev-dependency',
      severity: 'error',
      comment:
        'The package is installed with `npm install --omit=dev`: a runtime import of a devDependency (tsx, mocha, ...) ' +
        'from src/ works in the repository and fails on the compute host. Type-only imports are erased.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve fails at run time (or hides a dependency missing from package.json).',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
