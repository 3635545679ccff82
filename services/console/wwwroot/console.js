// The checkpoint this browser verified last, so that the next "verify" proves the log extends it.
window.modelopsConsole = {
  seenCheckpoint: () => window.localStorage.getItem("modelops.checkpoint"),
  rememberCheckpoint: (note) => window.localStorage.setItem("modelops.checkpoint", note),
};
