// The npm MLflow client (mlflow 2.0.7, unchanged) against the MLflow-compatible API of a running ModelOps stack.
// node npm-client.js <MLflow tracking URI> <bearer token> <experiment name>
// Env MLFLOW_NPM: the path of the mlflow package (scripts/node_modules/mlflow).
// Prints each check, a last "RESULT {json}" line with what was logged, and "N passed, N failed"; exits 1 on a failure.
'use strict';
const MLflow = require(process.env.MLFLOW_NPM);

const [endpoint, token, experimentName] = process.argv.slice(2);
const { Experiments, Runs, Metrics, Artifacts } = new MLflow({ endpoint, headers: { Authorization: `Bearer ${token}` } });
let passed = 0;
let failed = 0;
function check(what, condition, detail) {
  if (condition) { passed++; console.error(`ok   ${what}`); } else { failed++; console.error(`FAIL ${what}: ${JSON.stringify(detail)}`); }
}

(async () => {
  const result = {};
  try {
    const { experiment_id } = await Experiments.create({ name: experimentName });
    check('experiments/create gives an id string', typeof experiment_id === 'string' && /^[0-9]+$/.test(experiment_id), experiment_id);
    result.experiment_id = experiment_id;
    const listed = await Experiments.list({ view_type: 'ACTIVE_ONLY' });
    check('experiments/list holds it', listed.experiments.some(e => e.experiment_id === experiment_id && e.name === experimentName), listed);
    const { experiment } = await Experiments.get({ experiment_id });
    check('experiments/get reads it', experiment.name === experimentName && experiment.artifact_location === `mlflow-artifacts:/${experiment_id}`, experiment);

    const start = Date.now();
    const { run } = await Runs.create({
      experiment_id, user_id: 'npm-user', start_time: start,
      tags: [{ key: 'mlflow.runName', value: 'npm-run' }, { key: 'mlflow.source.git.commit', value: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678' }],
    });
    const run_id = run.info.run_id;
    check('runs/create starts a RUNNING run named by its tag', run.info.status === 'RUNNING' && run.info.run_name === 'npm-run' && /^[0-9a-f]{32}$/.test(run_id), run.info);
    result.run_id = run_id;
    result.metrics = [
      { key: 'loss', value: 0.5, timestamp: start + 1, step: 1 },
      { key: 'loss', value: 0.25, timestamp: start + 2, step: 2 },
      { key: 'acc', value: 0.875, timestamp: start + 2, step: 2 },
    ];
    await Runs.logParameter({ run_id, key: 'lr', value: '0.1' });
    await Runs.logMetric({ run_id, ...result.metrics[0] });
    await Runs.logBatch({ run_id, metrics: result.metrics.slice(1), params: [{ key: 'depth', value: '6' }], tags: [{ key: 'team', value: 'risk' }] });
    await Runs.setTag({ run_id, key: 'stage', value: 'dev' });
    result.params = { lr: '0.1', depth: '6' };
    result.tags = { team: 'risk', stage: 'dev', 'mlflow.runName': 'npm-run' };

    const found = await Runs.search({ experiment_ids: [experiment_id], filter: 'metrics.loss < 1 and params.depth = \'6\'', order_by: ['metrics.loss ASC'] });
    check('runs/search finds it with a filter', found.runs.length === 1 && found.runs[0].info.run_id === run_id, found);
    const read = (await Runs.get({ run_id })).run;
    const params = Object.fromEntries(read.data.params.map(p => [p.key, p.value]));
    const tags = Object.fromEntries(read.data.tags.map(t => [t.key, t.value]));
    const latest = Object.fromEntries(read.data.metrics.map(m => [m.key, m.value]));
    check('runs/get returns the params', JSON.stringify(params) === JSON.stringify({ depth: '6', lr: '0.1' }), params);
    check('runs/get returns the tags', Object.entries(result.tags).every(([k, v]) => tags[k] === v), tags);
    check('runs/get returns the latest metrics', latest.loss === 0.25 && latest.acc === 0.875, latest);
    const history = await Metrics.getHistory({ run_id, metric_key: 'loss' });
    check('metrics/get-history returns every point as logged',
      JSON.stringify(history.metrics.map(m => [m.step, m.value, m.timestamp])) === JSON.stringify([[1, 0.5, start + 1], [2, 0.25, start + 2]]), history);
    const artifacts = await Artifacts.list({ run_id, path: '' });
    check('artifacts/list answers with the run\'s root', artifacts.root_uri === `mlflow-artifacts:/${experiment_id}/${run_id}/artifacts`, artifacts);

    const ended = await Runs.update({ run_id, status: 'FINISHED', end_time: Date.now() });
    check('runs/update ends it', ended.run_info.status === 'FINISHED', ended);
    await Runs.delete({ run_id });
    check('runs/delete marks it deleted', (await Runs.get({ run_id })).run.info.lifecycle_stage === 'deleted', null);
    await Runs.restore({ run_id });
    check('runs/restore brings it back', (await Runs.get({ run_id })).run.info.lifecycle_stage === 'active', null);

    try {
      await Experiments.get({ experiment_id: '999999999' });
      check('an unknown experiment is refused', false, 'no error');
    } catch (e) {
      check('an unknown experiment is a 404 RESOURCE_DOES_NOT_EXIST', /"status":404/.test(e.message) && /RESOURCE_DOES_NOT_EXIST/.test(e.message), e.message);
    }
    try {
      await Runs.logParameter({ run_id, key: 'late', value: '1' });
      check('a write to an ended run is refused', false, 'no error');
    } catch (e) {
      check('a write to an ended run is a 400 INVALID_PARAMETER_VALUE', /"status":400/.test(e.message) && /INVALID_PARAMETER_VALUE/.test(e.message), e.message);
    }
  } catch (e) {
    check('the client ran through', false, e.message);
  }

  console.error(`RESULT ${JSON.stringify(result)}`);
  console.error(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
