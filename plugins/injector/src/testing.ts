/**
 * For the tests: the kube-apiserver to run against and an admin client, shared with the Kubernetes source's
 * tests through @weft/kube-client. With CI=true the caller turns a missing apiserver into a failure.
 */
export { Admin, findApiServer, repoRoot, type Answer, type ApiServerLookup } from '@weft/kube-client/dist/testing.js';
