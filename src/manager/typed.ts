import type { HandlerApi, ServedHandler } from '../handler/types.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import type { RequestOptions } from './request-options.js';

/**
 * Types only: how a handler's methods become the types of `manager.request`. The handler module
 * default-exports `serve(...)` (a `ServedHandler<Api>`); `umdkit pack` writes a `.d.mts` that reads
 * `Api` by `import type`; `defineDriver` carries it (with `validate`'s output as the answer);
 * `supervisor` and `createManager` collect the drivers into one union of {@link DriverEntry}; and
 * `request(name, payload, { method })` looks the name and method up in it.
 */

/** The methods of a driver nobody typed (plain JavaScript, an exec image): any method, any payload, answer unknown. */
export type UntypedApi = (payload: unknown) => unknown;

/** A driver's methods as `request` sees them: `unknown` (or `any`) is untyped, anything else is normalised. */
export type DriverApi<Api> = unknown extends Api ? UntypedApi : HandlerApi<Api>;

/**
 * What a validator makes of an answer: a Standard Schema's output, the type a type guard
 * narrows to, or what a function returns; `unknown` when it says nothing (then the handler's own
 * answer type stands).
 *
 * @example
 * ```ts
 * type Summary = ValidatorOutput<typeof summarySchema>; // z.output<typeof summarySchema>
 * ```
 */
export type ValidatorOutput<V> = V extends StandardSchemaV1<any, infer Output>
  ? Output
  : V extends (answer: any, ...rest: any[]) => answer is infer Narrowed
    ? Narrowed
    : V extends (...args: any[]) => infer Returned
      ? Awaited<Returned>
      : unknown;

/** `Api` with every answer replaced by `Output`, unless `Output` is `unknown`. */
export type Answered<Api, Output> = unknown extends Output
  ? Api
  : Api extends (payload: infer P) => unknown
    ? (payload: P) => Output
    : { readonly [K in keyof Api]: Api[K] extends (payload: infer P) => unknown ? (payload: P) => Output : never };

/** The methods a driver's options carry (`'~api'`, from a packed driver module), as `request` will see them. */
export type OptionsApi<O> = Answered<DriverApi<O extends { readonly '~api'?: infer Api } ? Api : unknown>, ValidatorOutput<O extends { readonly validate?: infer V } ? V : undefined>>;

/**
 * One driver of a manager, by type: its name and its methods (`(payload) => answer`, or a map of
 * them). A manager's drivers are a union of these.
 *
 * @example
 * ```ts
 * type Parser = DriverEntry<'parser', { readonly parse: (payload: Uint8Array) => Summary }>;
 * ```
 */
export interface DriverEntry<Name extends string = string, Api = unknown> {
  readonly name: Name;
  readonly api: Api;
}

/**
 * The methods a handler module offers, read from its module type (`typeof import('./parser.js')`):
 * its default export's, when that is what `serve` returned; else `unknown` (untyped). A CommonJS
 * module seen from an ES module has its exports under `default` once more; both are read.
 *
 * @example
 * ```ts
 * import type * as handler from './parser.handler.js';
 * type Api = HandlerModuleApi<typeof handler>;
 * ```
 */
export type HandlerModuleApi<Module> = Module extends { readonly default: ServedHandler<infer Api> }
  ? Api
  : Module extends { readonly default: { readonly default: ServedHandler<infer Api> } }
    ? Api
    : unknown;

/** The drivers a child of a tree brings: a supervisor's, or one driver (a `Driver` or plain driver options). */
export type EntriesOf<Child> = Child extends { readonly kind: 'supervisor'; readonly '~drivers'?: infer Entries }
  ? unknown extends Entries ? DriverEntry : Entries
  : Child extends { readonly name: infer Name extends string }
    ? DriverEntry<Name, OptionsApi<Child>>
    : never;

/** The drivers of `createManager(options)`: from `tree`, or from `children`; untyped when neither is known. */
export type ManagedDrivers<O> = O extends { readonly tree: { readonly kind: 'supervisor' } }
  ? EntriesOf<O['tree']>
  : O extends { readonly children: ReadonlyArray<infer Child> }
    ? EntriesOf<Child>
    : DriverEntry;

/** The names `request` accepts. */
export type DriverName<Entries> = Entries extends DriverEntry<infer Name, any> ? Name : never;

/** The methods of the driver called `Name` (untyped when nothing is known of it). */
export type ApiFor<Entries, Name> = DriverApi<Entries extends DriverEntry<infer N, infer Api> ? (Name extends N ? Api : never) : never>;

/** The `method` a request to `Api` names: any (or none) for one function or an untyped driver, else one of the map's keys. */
export type MethodName<Api> = Api extends (payload: any) => unknown ? string | undefined : keyof Api & string;

/** The payload `method` of `Api` takes. */
export type RequestPayload<Api, Method> = Api extends (payload: infer P) => unknown
  ? P
  : Method extends keyof Api
    ? Api[Method] extends (payload: infer P) => unknown ? P : never
    : never;

/** The answer `method` of `Api` resolves with. */
export type RequestAnswer<Api, Method> = Api extends (payload: any) => infer A
  ? A
  : Method extends keyof Api
    ? Api[Method] extends (payload: any) => infer A ? A : never
    : never;

/** The options argument: optional for one function, required with its `method` for a map. */
export type RequestArgs<Api, Method> = Api extends (payload: any) => unknown
  ? [options?: RequestOptions & { method?: Method }]
  : [options: RequestOptions & { method: Method }];

/**
 * The names of the drivers nobody typed (their methods are {@link UntypedApi}): for these alone
 * `request<T>()` still takes an answer type on trust, as it did before drivers were typed.
 */
export type UntypedName<Entries> = Entries extends DriverEntry<infer Name, infer Api>
  ? [DriverApi<Api>] extends [UntypedApi] ? ([UntypedApi] extends [DriverApi<Api>] ? Name : never) : never
  : never;
