// V8 builds an object literal that has a getter in dictionary mode. Every method called on such
// an object is then a generic property lookup (the LoadIC builtin) that optimized code cannot
// fold: issue 18 found three per OSC write in the store's optimized `apply` (the clock's `tick`,
// the identity's `deviceId`, the subscribers' `notify`), each object slow only for a `size` or
// `node` getter. Accessors defined after the literal leave it fast, if every object made by the
// same factory gets the same getter function: a second object given another function for the
// same name is turned into a dictionary too. So there is one getter per name, for every object,
// and it asks the object's own reader.

type Getters = { readonly [key: string]: () => unknown };

const readers = new WeakMap<object, Getters>();
const shared = new Map<string, (this: object) => unknown>();

function getterFor(key: string): (this: object) => unknown {
  let get = shared.get(key);
  if (!get) {
    get = function (this: object) {
      return readers.get(this)?.[key]?.();
    };
    shared.set(key, get);
  }
  return get;
}

/** `methods` with read-only, enumerable properties computed by `getters`, in fast mode. */
export function withGetters<T extends object, G extends Getters>(
  methods: T,
  getters: G,
): NoInfer<T> & { readonly [K in keyof G]: ReturnType<G[K]> } {
  readers.set(methods, getters);
  for (const key of Object.keys(getters)) {
    Object.defineProperty(methods, key, { get: getterFor(key), enumerable: true });
  }
  // NoInfer: T comes from the literal, not from what the caller returns it as.
  return methods as NoInfer<T> & { readonly [K in keyof G]: ReturnType<G[K]> };
}
