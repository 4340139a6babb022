/**
 * For the tests: the test apiserver lookup and admin client live in @weft/kube-client (the injector's tests
 * use them too); re-exported here for the tests that import them from this package.
 */
export * from '@weft/kube-client/dist/testing.js';
