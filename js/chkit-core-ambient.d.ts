// Build-time stand-in for the one type this package augments, so it compiles
// without `@chkit/core` installed. Not shipped: with the real package
// installed, the augmentation in index.ts merges into its `TablePlugins`.
declare module '@chkit/core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-interface
  export interface TablePlugins {}
}
